{{/* Names and labels, as `helm create` lays them out. */}}
{{- define "tensorgate.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "tensorgate.fullname" -}}
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

{{- define "tensorgate.selectorLabels" -}}
app.kubernetes.io/name: {{ include "tensorgate.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "tensorgate.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "tensorgate.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "tensorgate.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "tensorgate.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "tensorgate.image" -}}
{{- $repository := ternary .Values.gpu.image .Values.image.repository .Values.gpu.enabled }}
{{- printf "%s:%s" $repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/* The Secret holding the token: an existing one, or the chart's. */}}
{{- define "tensorgate.secretName" -}}
{{- default (printf "%s-auth" (include "tensorgate.fullname" .)) .Values.auth.existingSecret }}
{{- end }}

{{- define "tensorgate.hasToken" -}}
{{- if or .Values.auth.existingSecret .Values.auth.token }}true{{- end }}
{{- end }}

{{/* Seconds from SIGTERM's decision to a forced kill: see values.yaml's drain. */}}
{{- define "tensorgate.terminationGracePeriodSeconds" -}}
{{- $d := .Values.drain }}
{{- add $d.preStopSeconds $d.shutdownDelaySeconds $d.timeoutSeconds $d.marginSeconds }}
{{- end }}

{{/* Settings that cannot work together fail the render with what to change. */}}
{{- define "tensorgate.validate" -}}
{{- if and (not (include "tensorgate.hasToken" .)) (not .Values.auth.allowUnauthenticated) }}
{{- fail "auth: set auth.existingSecret (a Secret with the token) or auth.token; auth.allowUnauthenticated=true only behind a mesh or gateway that authenticates" }}
{{- end }}
{{- if and (eq .Values.repository.source "s3") (not (hasPrefix "s3://" .Values.repository.s3.uri)) }}
{{- fail (printf "repository.s3.uri is %q; with repository.source=s3 it must be s3://bucket/prefix" .Values.repository.s3.uri) }}
{{- end }}
{{- if and (eq .Values.repository.source "volume") (not .Values.repository.volume) }}
{{- fail "repository.volume is empty; with repository.source=volume give a volume source, e.g. {persistentVolumeClaim: {claimName: models, readOnly: true}}" }}
{{- end }}
{{- if and .Values.autoscaling.enabled (gt (int .Values.autoscaling.minReplicas) (int .Values.autoscaling.maxReplicas)) }}
{{- fail (printf "autoscaling.minReplicas %d is above autoscaling.maxReplicas %d" (int .Values.autoscaling.minReplicas) (int .Values.autoscaling.maxReplicas)) }}
{{- end }}
{{- end }}
