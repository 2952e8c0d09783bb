/** `make k8s`: synthesizes the manifests of k8s/ from the chart with default values. */
import { App, YamlOutputType } from 'cdk8s';
import { fileURLToPath } from 'node:url';
import { SwitchboardChart } from './switchboard-chart.js';

const outdir = fileURLToPath(new URL('../k8s', import.meta.url));
const app = new App({ outdir, outputFileExtension: '.yaml', yamlOutputType: YamlOutputType.FILE_PER_CHART });
new SwitchboardChart(app, 'switchboard');
app.synth();
