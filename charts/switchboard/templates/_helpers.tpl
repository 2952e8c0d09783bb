{{/* Name of the chart. */}}
{{- define "switchboard.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Prefix of every object name: the release name, or release-chart when it lacks the chart name. */}}
{{- define "switchboard.fullname" -}}
{{- if contains .Chart.Name .Release.Name }}
{{- .Release.Name | trunc 50 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 50 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{- define "switchboard.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels of every object; call with (dict "ctx" $ "component" "connect") or (dict "ctx" $). */}}
{{- define "switchboard.labels" -}}
helm.sh/chart: {{ include "switchboard.chart" .ctx }}
{{ include "switchboard.selectorLabels" . }}
app.kubernetes.io/version: {{ .ctx.Chart.AppVersion | quote }}
app.kubernetes.io/part-of: switchboard
app.kubernetes.io/managed-by: {{ .ctx.Release.Service }}
{{- end }}

{{/* Labels that select a component's pods (without "component": every Switchboard object). */}}
{{- define "switchboard.selectorLabels" -}}
app.kubernetes.io/name: {{ include "switchboard.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
{{- if .component }}
app.kubernetes.io/component: {{ .component }}
{{- end }}
{{- end }}

{{/* Pod-level security: non-root, RuntimeDefault seccomp. */}}
{{- define "switchboard.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
fsGroup: 10001
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{/* Container-level security: read-only root filesystem, no privilege escalation, no capabilities. */}}
{{- define "switchboard.containerSecurityContext" -}}
readOnlyRootFilesystem: true
allowPrivilegeEscalation: false
runAsNonRoot: true
capabilities:
  drop:
    - ALL
{{- end }}

{{/* Probes on the admin port: liveness never depends on a backend or peer. */}}
{{- define "switchboard.probes" -}}
startupProbe:
  httpGet:
    path: /livez
    port: admin
  periodSeconds: 2
  failureThreshold: 30
livenessProbe:
  httpGet:
    path: /livez
    port: admin
  periodSeconds: 10
  timeoutSeconds: 3
  failureThreshold: 3
readinessProbe:
  httpGet:
    path: /readyz
    port: admin
  periodSeconds: 5
  timeoutSeconds: 3
  failureThreshold: 2
{{- end }}

{{/* Spread a component's pods over nodes and zones. */}}
{{- define "switchboard.topologySpread" -}}
- maxSkew: 1
  topologyKey: kubernetes.io/hostname
  whenUnsatisfiable: ScheduleAnyway
  labelSelector:
    matchLabels:
      {{- include "switchboard.selectorLabels" . | nindent 6 }}
- maxSkew: 1
  topologyKey: topology.kubernetes.io/zone
  whenUnsatisfiable: ScheduleAnyway
  labelSelector:
    matchLabels:
      {{- include "switchboard.selectorLabels" . | nindent 6 }}
{{- end }}

{{/* Scrape annotations for Prometheus servers without the Operator (kubernetes_sd, pod role); call with the admin port. */}}
{{- define "switchboard.scrapeAnnotations" -}}
prometheus.io/path: /metrics
prometheus.io/port: {{ . | quote }}
prometheus.io/scrape: "true"
{{- end }}

{{/* True when the cluster serves the Prometheus Operator's API (ServiceMonitor, PrometheusRule). */}}
{{- define "switchboard.hasOperator" -}}
{{- if .Capabilities.APIVersions.Has "monitoring.coreos.com/v1" }}true{{ end }}
{{- end }}

{{/*
More settings of a service by name (values connect.env / message.env), after the chart's own; the
values schema admits only the names the chart does not set. A whole number stays one (Helm reads
the numbers of a values file as floats, which would print 1000000 as 1e+06).
*/}}
{{- define "switchboard.extraEnv" -}}
{{- range $name, $value := . }}
{{- $v := $value }}
{{- if and (kindIs "float64" $v) (eq $v (floor $v)) }}
{{- $v = int64 $v }}
{{- end }}
- name: {{ $name }}
  value: {{ toString $v | quote }}
{{- end }}
{{- end }}

{{/* The shared token of Connect's calls to Message (INTERNAL_AUTH_TOKEN), when auth.internalTokenSecret names a Secret. */}}
{{- define "switchboard.internalToken" -}}
- name: INTERNAL_AUTH_TOKEN
  valueFrom:
    secretKeyRef:
      name: {{ .Values.auth.internalTokenSecret }}
      key: {{ .Values.auth.internalTokenKey }}
{{- end }}

{{/* INTERNAL_TLS_* of a component (secret: its kubernetes.io/tls Secret), mounted by switchboard.internalTlsVolume. */}}
{{- define "switchboard.internalTlsEnv" -}}
- name: INTERNAL_TLS_CERT_FILE
  value: /etc/switchboard/internal-tls/tls.crt
- name: INTERNAL_TLS_KEY_FILE
  value: /etc/switchboard/internal-tls/tls.key
- name: INTERNAL_TLS_CA_FILE
  value: /etc/switchboard/internal-tls/ca.crt
- name: INTERNAL_TLS_RELOAD_INTERVAL
  value: {{ .Values.internalTls.reloadInterval | quote }}
{{- end }}

{{/* Whether the link between the services is mutual TLS; both Secrets or neither. */}}
{{- define "switchboard.internalTlsOn" -}}
{{- if and .Values.internalTls.messageSecret .Values.internalTls.connectSecret -}}
true
{{- else if or .Values.internalTls.messageSecret .Values.internalTls.connectSecret -}}
{{- fail "internalTls: set both messageSecret and connectSecret, or neither" -}}
{{- end -}}
{{- end }}
