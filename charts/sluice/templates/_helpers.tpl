{{- /*
Names, labels and shared pieces of the Sluice chart.
*/ -}}

{{- /* The base name of every object: the release name, with `-sluice`
unless it names sluice already; 63 characters at most (DNS labels). */ -}}
{{- define "sluice.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 52 | trimSuffix "-" -}}
{{- else if contains "sluice" .Release.Name -}}
{{- .Release.Name | trunc 52 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-sluice" .Release.Name | trunc 52 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "sluice.controller.name" -}}{{ include "sluice.fullname" . }}-controller{{- end -}}
{{- define "sluice.webhook.name" -}}{{ include "sluice.fullname" . }}-webhook{{- end -}}
{{- define "sluice.executor.name" -}}{{ include "sluice.fullname" . }}-executor{{- end -}}
{{- define "sluice.config.name" -}}{{ include "sluice.fullname" . }}-config{{- end -}}
{{- define "sluice.webhook.tlsSecret" -}}{{ include "sluice.fullname" . }}-webhook-tls{{- end -}}

{{- define "sluice.controller.serviceAccount" -}}
{{- .Values.controller.serviceAccount.name | default (include "sluice.controller.name" .) -}}
{{- end -}}
{{- define "sluice.webhook.serviceAccount" -}}
{{- .Values.webhook.serviceAccount.name | default (include "sluice.webhook.name" .) -}}
{{- end -}}

{{- /* The namespace whose workflows the controller runs in namespaced mode. */ -}}
{{- define "sluice.watchNamespace" -}}
{{- .Values.watchNamespace | default .Release.Namespace -}}
{{- end -}}

{{- /* The namespaces where workflow pods run with the executor's rights:
workflow.namespaces, else the watched namespace (namespaced mode) or the
release's. One per line. */ -}}
{{- define "sluice.workflowNamespaces" -}}
{{- if .Values.workflow.namespaces -}}
{{- range .Values.workflow.namespaces }}
{{ . }}
{{- end -}}
{{- else if .Values.namespaced -}}
{{ include "sluice.watchNamespace" . }}
{{- else -}}
{{ .Release.Namespace }}
{{- end -}}
{{- end -}}

{{- define "sluice.labels" -}}
{{ include "sluice.commonLabels" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- /* The labels of every object but app.kubernetes.io/instance (which
sluice.labels and sluice.selectorLabels add). */ -}}
{{- define "sluice.commonLabels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/part-of: sluice
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{- /* Labels of one component: (dict "root" $ "component" "controller"). */ -}}
{{- define "sluice.componentLabels" -}}
{{ include "sluice.commonLabels" .root }}
{{ include "sluice.selectorLabels" . }}
{{- end -}}

{{- define "sluice.selectorLabels" -}}
app.kubernetes.io/name: sluice-{{ .component }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "sluice.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) -}}
{{- end -}}

{{- /* The webhook's serving certificate without cert-manager: the one in the
cluster when there is one (so upgrades keep it and the caBundle matches),
else a new CA and a certificate it signs. Computed once per render and kept
in .Values, so the Secret and both webhook configurations get the same. */ -}}
{{- define "sluice.webhook.certificate" -}}
{{- if not (hasKey .Values "__webhookCertificate") -}}
{{- $secret := lookup "v1" "Secret" .Release.Namespace (include "sluice.webhook.tlsSecret" .) -}}
{{- $data := dig "data" (dict) ($secret | default (dict)) -}}
{{- $certificate := dict -}}
{{- if and (index $data "ca.crt") (index $data "tls.crt") (index $data "tls.key") -}}
{{- $certificate = dict "ca" (index $data "ca.crt") "crt" (index $data "tls.crt") "key" (index $data "tls.key") -}}
{{- else -}}
{{- $service := include "sluice.webhook.name" . -}}
{{- $namespace := .Release.Namespace -}}
{{- $names := list $service (printf "%s.%s" $service $namespace) (printf "%s.%s.svc" $service $namespace) (printf "%s.%s.svc.cluster.local" $service $namespace) -}}
{{- $ca := genCA (printf "%s-ca" (include "sluice.fullname" .)) (int .Values.webhook.certificate.caValidityDays) -}}
{{- $cert := genSignedCert (printf "%s.%s.svc" $service $namespace) nil $names (int .Values.webhook.certificate.validityDays) $ca -}}
{{- $certificate = dict "ca" ($ca.Cert | b64enc) "crt" ($cert.Cert | b64enc) "key" ($cert.Key | b64enc) -}}
{{- end -}}
{{- $_ := set .Values "__webhookCertificate" $certificate -}}
{{- end -}}
{{- end -}}

{{- /* The caBundle of the webhook configurations (base64 PEM), empty with
cert-manager (its CA injector fills it). */ -}}
{{- define "sluice.webhook.caBundle" -}}
{{- if not .Values.certManager.enabled -}}
{{- include "sluice.webhook.certificate" . -}}
{{- .Values.__webhookCertificate.ca -}}
{{- end -}}
{{- end -}}

{{- /* The pod and container security settings of Pod Security "restricted". */ -}}
{{- define "sluice.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .Values.securityContext.runAsUser }}
runAsGroup: {{ .Values.securityContext.runAsGroup }}
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "sluice.containerSecurityContext" -}}
runAsNonRoot: true
readOnlyRootFilesystem: true
allowPrivilegeEscalation: false
seccompProfile:
  type: RuntimeDefault
capabilities:
  drop: [ALL]
{{- end -}}
