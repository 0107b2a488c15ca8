{{/* Names and labels: the release name and the site, so that several sites may share a namespace. */}}
{{- define "eb.fullname" -}}
{{- printf "%s-%s" .Release.Name .Values.site | trunc 52 | trimSuffix "-" | lower | replace "_" "-" -}}
{{- end -}}

{{- define "eb.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
srcnet.eu/site: {{ .Values.site | quote }}
{{- end -}}

{{/* Selector labels of one component ("agent", "data-agent"): pass (list $ "agent"). */}}
{{- define "eb.selector" -}}
{{- $root := index . 0 -}}
app.kubernetes.io/name: {{ $root.Chart.Name }}
app.kubernetes.io/instance: {{ $root.Release.Name }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end -}}

{{/* A map of settings (name: value) as EB_<NAME> variables: strings as they are, anything else as JSON. */}}
{{- define "eb.settingsEnv" -}}
{{- range $name, $value := . }}
{{- if not (kindIs "invalid" $value) }}
- name: EB_{{ upper $name }}
  value: {{ if kindIs "string" $value }}{{ $value | quote }}{{ else }}{{ toJson $value | quote }}{{ end }}
{{- end }}
{{- end }}
{{- end -}}

{{/* Where the NATS credentials file is mounted. */}}
{{- define "eb.natsDir" -}}/var/run/secrets/srcnet-eb/nats{{- end -}}

{{/* What every agent of the site has: the site, NATS (URL, replicas, the site's identity if any), its pod's name. */}}
{{- define "eb.agentEnv" -}}
- name: EB_SITE
  value: {{ .Values.site | quote }}
- name: EB_NATS_URL
  value: {{ .Values.nats.url | quote }}
- name: EB_JETSTREAM_REPLICAS
  value: {{ .Values.nats.jetstreamReplicas | quote }}
{{- if .Values.nats.credentials.secretName }}
- name: {{ if eq .Values.nats.credentials.type "creds" }}EB_NATS_CREDS{{ else }}EB_NATS_NKEY_SEED{{ end }}
  value: {{ printf "%s/%s" (include "eb.natsDir" .) .Values.nats.credentials.key | quote }}
{{- end }}
- name: EB_AGENT_NAME
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
{{- end -}}

{{/* Volumes every agent pod has: the site's NATS identity (read-only, the pod's group may read) and /tmp. */}}
{{- define "eb.volumes" -}}
{{- if .Values.nats.credentials.secretName }}
- name: nats-credentials
  secret:
    secretName: {{ .Values.nats.credentials.secretName }}
    defaultMode: 0440
    items:
      - key: {{ .Values.nats.credentials.key }}
        path: {{ .Values.nats.credentials.key }}
{{- end }}
- name: tmp
  emptyDir:
    sizeLimit: 64Mi
{{- end -}}

{{- define "eb.volumeMounts" -}}
{{- if .Values.nats.credentials.secretName }}
- name: nats-credentials
  mountPath: {{ include "eb.natsDir" . }}
  readOnly: true
{{- end }}
- name: tmp
  mountPath: /tmp
{{- end -}}

{{/* The parts of a pod spec every agent pod shares. */}}
{{- define "eb.podCommon" -}}
automountServiceAccountToken: false
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- range . }}
  - name: {{ . }}
  {{- end }}
{{- end }}
securityContext:
  {{- toYaml .Values.podSecurityContext | nindent 2 }}
{{- with .Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/* The image: as given, or the project's for the platform (slurm's has the Slurm client tools). */}}
{{- define "eb.image" -}}
{{- $default := ternary "srcnet/execution-broker-slurm" "srcnet/execution-broker" (eq .Values.platform "slurm") -}}
{{ printf "%s:%s" (default $default .Values.image.repository) .Values.image.tag | quote }}
{{- end -}}

{{/* The data agent's image: as given, or the platform agent's unless that is the Slurm one. */}}
{{- define "eb.dataImage" -}}
{{- $platform := ternary "" .Values.image.repository (eq .Values.platform "slurm") -}}
{{ printf "%s:%s" (.Values.rucio.image.repository | default $platform | default "srcnet/execution-broker") .Values.image.tag | quote }}
{{- end -}}

{{- define "eb.podMetadata" -}}
{{- $component := index . 1 -}}
{{- with index . 0 -}}
labels:
  {{- include "eb.labels" . | nindent 2 }}
  app.kubernetes.io/component: {{ $component }}
  {{- with .Values.podLabels }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
{{- if or (and .Values.metrics.port (eq $component "agent")) .Values.podAnnotations }}
annotations:
  {{- if and .Values.metrics.port (eq $component "agent") }}
  prometheus.io/scrape: "true"
  prometheus.io/path: {{ .Values.metrics.path | quote }}
  prometheus.io/port: {{ .Values.metrics.port | quote }}
  {{- end }}
  {{- with .Values.podAnnotations }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
{{- end }}
{{- end }}
{{- end -}}
