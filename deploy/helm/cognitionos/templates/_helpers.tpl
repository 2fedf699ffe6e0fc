{{- define "cognitionos.image" -}}
{{ .root.Values.image.repository }}/{{ .name }}:{{ .root.Values.image.tag }}
{{- end -}}

{{- define "cognitionos.url" -}}
http://{{ .name }}.{{ .root.Release.Namespace }}.svc.cluster.local:{{ .port }}
{{- end -}}

{{- define "cognitionos.envFrom" -}}
- configMapRef:
    name: cognitionos-config
- secretRef:
    name: {{ .Values.existingSecret | default "cognitionos-secrets" }}
{{- end -}}
