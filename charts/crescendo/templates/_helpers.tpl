{{/* Chart name, overridable. */}}
{{- define "crescendo.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Full name: the release name, prefixed with the chart name unless it already contains it.
Truncated to 63 characters (a DNS label).
*/}}
{{- define "crescendo.fullname" -}}
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

{{- define "crescendo.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels on every object of the chart. */}}
{{- define "crescendo.labels" -}}
helm.sh/chart: {{ include "crescendo.chart" . }}
{{ include "crescendo.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: crescendo
{{- end }}

{{/* Labels that select the operator's pods; never change them in an upgrade. */}}
{{- define "crescendo.selectorLabels" -}}
app.kubernetes.io/name: {{ include "crescendo.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: operator
{{- end }}

{{- define "crescendo.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "crescendo.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "crescendo.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/*
The Lease the operator elects its leader on: fixed in the operator (config.ts, leaseName), so
the leader-election Role can name it.
*/}}
{{- define "crescendo.leaseName" -}}
crescendo-operator
{{- end }}
