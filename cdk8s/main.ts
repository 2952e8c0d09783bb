/**
 * `make k8s`: synthesizes the manifests of k8s/ from the chart with default values:
 * switchboard.yaml (everything a cluster needs) and switchboard-monitoring.yaml (ServiceMonitor and
 * PrometheusRule, for clusters with the Prometheus Operator).
 */
import { App, YamlOutputType } from 'cdk8s';
import { fileURLToPath } from 'node:url';
import { SwitchboardChart, SwitchboardMonitoringChart } from './switchboard-chart.js';

const outdir = fileURLToPath(new URL('../k8s', import.meta.url));
const app = new App({ outdir, outputFileExtension: '.yaml', yamlOutputType: YamlOutputType.FILE_PER_CHART });
new SwitchboardChart(app, 'switchboard');
new SwitchboardMonitoringChart(app, 'switchboard-monitoring');
app.synth();
