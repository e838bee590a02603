{{/* Names, labels and the checks that values.schema.json cannot express. */}}

{{- define "cashback.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Release name + chart name, unless the release name already contains it. */}}
{{- define "cashback.fullname" -}}
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

{{/* Only name + instance: a StatefulSet's selector can never change after install. */}}
{{- define "cashback.selectorLabels" -}}
app.kubernetes.io/name: {{ include "cashback.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "cashback.labels" -}}
{{ include "cashback.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: cashback-accrual
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "cashback.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "cashback.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "cashback.image" -}}
{{- $tag := default .Chart.AppVersion .Values.image.tag }}
{{- if .Values.image.digest }}
{{- printf "%s:%s@%s" .Values.image.repository $tag .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository $tag }}
{{- end }}
{{- end }}

{{- define "cashback.transactionalIdPrefix" -}}
{{- default (printf "cashback-%s" .Values.groupId) .Values.transactionalIdPrefix }}
{{- end }}

{{- define "cashback.usesSasl" -}}
{{- if hasPrefix "SASL_" .Values.kafka.securityProtocol }}true{{ end }}
{{- end }}

{{- define "cashback.usesTls" -}}
{{- if has .Values.kafka.securityProtocol (list "SSL" "SASL_SSL") }}true{{ end }}
{{- end }}

{{/* Where the CA Secret is mounted in the container. */}}
{{- define "cashback.caDir" -}}/etc/cashback/kafka-ca{{- end }}
{{- define "cashback.rulesDir" -}}/etc/cashback/rules{{- end }}

{{/* Distinct broker ports of kafka.bootstrapServers ("h1:9096,h2:9096" -> [9096]). */}}
{{- define "cashback.bootstrapPorts" -}}
{{- $ports := list }}
{{- range splitList "," .Values.kafka.bootstrapServers }}
{{- $hostPort := trim . }}
{{- $port := last (splitList ":" $hostPort) }}
{{- if not (regexMatch "^[0-9]+$" $port) }}
{{- fail (printf "kafka.bootstrapServers: %q has no :port" $hostPort) }}
{{- end }}
{{- $ports = append $ports (atoi $port) }}
{{- end }}
{{- toJson (uniq $ports) }}
{{- end }}

{{/* activationLagThreshold: exactly once leaves one commit marker of lag per partition. */}}
{{- define "cashback.activationLagThreshold" -}}
{{- if kindIs "invalid" .Values.keda.activationLagThreshold }}
{{- if eq .Values.processingGuarantee "exactly_once" }}{{ .Values.kafka.inputPartitions }}{{ else }}0{{ end }}
{{- else }}
{{- .Values.keda.activationLagThreshold }}
{{- end }}
{{- end }}

{{/* Render-time checks across values; each failure names the value to change. */}}
{{- define "cashback.validate" -}}
{{- if not .Values.kafka.bootstrapServers }}
{{- fail "kafka.bootstrapServers is required" }}
{{- end }}
{{- if and (include "cashback.usesSasl" .) (not .Values.kafka.sasl.existingSecret) }}
{{- fail (printf "kafka.sasl.existingSecret is required with securityProtocol %s (credentials only by Secret reference)" .Values.kafka.securityProtocol) }}
{{- end }}
{{- if and .Values.keda.enabled .Values.hpa.enabled }}
{{- fail "keda.enabled and hpa.enabled are exclusive: KEDA creates its own HPA" }}
{{- end }}
{{- $partitions := int .Values.kafka.inputPartitions }}
{{- if and .Values.keda.enabled (gt (int .Values.keda.maxReplicaCount) $partitions) }}
{{- fail (printf "keda.maxReplicaCount %d is above kafka.inputPartitions %d: the extra instances would get no partition" (int .Values.keda.maxReplicaCount) $partitions) }}
{{- end }}
{{- if and .Values.keda.enabled (gt (int .Values.keda.minReplicaCount) (int .Values.keda.maxReplicaCount)) }}
{{- fail "keda.minReplicaCount is above keda.maxReplicaCount" }}
{{- end }}
{{- if and .Values.keda.enabled (eq (int .Values.keda.minReplicaCount) 0) (eq .Values.processingGuarantee "exactly_once") (lt (int (include "cashback.activationLagThreshold" .)) $partitions) }}
{{- fail (printf "keda.activationLagThreshold %s is below kafka.inputPartitions %d with minReplicaCount 0 under exactly once: the commit markers' lag of 1 per partition would keep one instance running forever (kedacore/keda#5675)" (include "cashback.activationLagThreshold" .) $partitions) }}
{{- end }}
{{- if and .Values.hpa.enabled (gt (int .Values.hpa.maxReplicas) $partitions) }}
{{- fail (printf "hpa.maxReplicas %d is above kafka.inputPartitions %d: the extra instances would get no partition" (int .Values.hpa.maxReplicas) $partitions) }}
{{- end }}
{{- if and .Values.serviceMonitor.enabled (not .Values.service.enabled) }}
{{- fail "serviceMonitor.enabled needs service.enabled (the ServiceMonitor scrapes that Service)" }}
{{- end }}
{{- if and .Values.rules.configMap.enabled .Values.rules.existingConfigMap }}
{{- fail "rules.configMap.enabled and rules.existingConfigMap are exclusive" }}
{{- end }}
{{- if and (not .Values.rules.topic) (not .Values.rules.configMap.enabled) (not .Values.rules.existingConfigMap) }}
{{- fail "no rule sets: set rules.topic, rules.configMap or rules.existingConfigMap" }}
{{- end }}
{{- range $property, $_ := .Values.kafka.properties }}
{{- if regexMatch "(password|secret|token|key\\.pem)" $property }}
{{- fail (printf "kafka.properties.%s looks like a secret: use kafka.secretProperties (a Secret reference)" $property) }}
{{- end }}
{{- end }}
{{- end }}

{{/* KAFKA_<PROPERTY> as the worker reads it: upper case, "." as "_". */}}
{{- define "cashback.kafkaEnvName" -}}
{{- printf "KAFKA_%s" (. | upper | replace "." "_") }}
{{- end }}
