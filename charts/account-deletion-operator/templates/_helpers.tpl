{{/* Chart name, overridable. */}}
{{- define "ado.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name prefix of every object: "<release>-<chart>" unless the release already contains it. */}}
{{- define "ado.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "ado.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels on every object. */}}
{{- define "ado.labels" -}}
helm.sh/chart: {{ include "ado.chart" . | quote }}
{{ include "ado.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service | quote }}
app.kubernetes.io/part-of: account-deletion-operator
{{- end }}

{{/* Labels selecting the operator pods (immutable in the Deployment selector). */}}
{{- define "ado.selectorLabels" -}}
app.kubernetes.io/name: {{ include "ado.name" . | quote }}
app.kubernetes.io/instance: {{ .Release.Name | quote }}
{{- end }}

{{/* ServiceAccount the operator runs as. */}}
{{- define "ado.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "ado.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The one Lease the operator may use (RBAC names it). */}}
{{- define "ado.leaseName" -}}
{{- default (include "ado.fullname" .) .Values.leaderElection.leaseName }}
{{- end }}

{{/* policy/v1 PodDisruptionBudget when served (1.21+), else policy/v1beta1 (1.20). */}}
{{- define "ado.pdbApiVersion" -}}
{{- if .Capabilities.APIVersions.Has "policy/v1/PodDisruptionBudget" -}}
policy/v1
{{- else -}}
policy/v1beta1
{{- end }}
{{- end }}

{{/* Address the metrics server binds: metrics.bindAddress, else the pod IP with hostNetwork (not
every interface of the node), else all addresses. */}}
{{- define "ado.metricsBindAddress" -}}
{{- if .Values.metrics.bindAddress -}}
{{- .Values.metrics.bindAddress -}}
{{- else if .Values.hostNetwork -}}
$(POD_IP)
{{- else -}}
0.0.0.0
{{- end }}
{{- end }}
