{{/* Names and labels. */}}
{{- define "eb.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 52 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 52 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "eb.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{/* Selector labels of one component ("gateway", "planner"): pass (list $ "gateway"). */}}
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

{{/* The connection every central process has: NATS (URL, replicas, the central identity) and the database. */}}
{{- define "eb.centralEnv" -}}
- name: EB_NATS_URL
  value: {{ .Values.nats.url | quote }}
- name: EB_JETSTREAM_REPLICAS
  value: {{ .Values.nats.jetstreamReplicas | quote }}
- name: {{ if eq .Values.nats.credentials.type "creds" }}EB_NATS_CREDS{{ else }}EB_NATS_NKEY_SEED{{ end }}
  value: {{ printf "%s/%s" (include "eb.natsDir" .) .Values.nats.credentials.key | quote }}
- name: EB_DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ .Values.database.secretName }}
      key: {{ .Values.database.key }}
{{- end -}}

{{/* Volumes every central pod has: the NATS credentials (read-only, the pod's group may read) and /tmp. */}}
{{- define "eb.volumes" -}}
- name: nats-credentials
  secret:
    secretName: {{ .Values.nats.credentials.secretName }}
    defaultMode: 0440
    items:
      - key: {{ .Values.nats.credentials.key }}
        path: {{ .Values.nats.credentials.key }}
- name: tmp
  emptyDir:
    sizeLimit: 64Mi
{{- end -}}

{{- define "eb.volumeMounts" -}}
- name: nats-credentials
  mountPath: {{ include "eb.natsDir" . }}
  readOnly: true
- name: tmp
  mountPath: /tmp
{{- end -}}

{{/* The parts of a pod spec every central pod shares. */}}
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

{{- define "eb.image" -}}
{{ printf "%s:%s" .Values.image.repository .Values.image.tag | quote }}
{{- end -}}

{{/* The gateway's probe: GET of a path that answers once it has started, asking for JSON. */}}
{{- /* the gateway's probe; . is (list $ path) */ -}}
{{- define "eb.gatewayProbe" -}}
path: {{ index . 1 }}
port: http
httpHeaders:
  - name: Accept
    value: application/json
{{- end -}}
