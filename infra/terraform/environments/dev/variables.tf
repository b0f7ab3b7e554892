variable "project_id" {
  description = "Google Cloud project of this environment."
  type        = string
}

variable "region" {
  description = "Region of every regional resource."
  type        = string
  default     = "europe-west1"
}

variable "triton_zones" {
  description = "Zones of the region offering the Triton GPU type."
  type        = list(string)
  default     = ["europe-west1-b", "europe-west1-c", "europe-west1-d"]
}

variable "elasticsearch_mode" {
  description = "elastic_cloud: create an Elastic Cloud deployment (needs EC_API_KEY); existing: use es_url and es_api_key."
  type        = string
  default     = "elastic_cloud"
  validation {
    condition     = contains(["elastic_cloud", "existing"], var.elasticsearch_mode)
    error_message = "elasticsearch_mode must be elastic_cloud or existing."
  }
}

variable "es_url" {
  description = "HTTPS URL of an existing Elasticsearch 8.x cluster (existing mode)."
  type        = string
  default     = ""
}

variable "es_api_key" {
  description = "Encoded API key of the existing cluster (existing mode); set it with TF_VAR_es_api_key."
  type        = string
  default     = ""
  sensitive   = true
}

variable "alert_emails" {
  description = "Addresses that receive alerts."
  type        = list(string)
  default     = []
}

variable "source_dir" {
  description = "Folder of the function archives (python infra/terraform/build_sources.py writes build/functions)."
  type        = string
  default     = "../../../../build/functions"
}

variable "operators" {
  description = "Members (user:..., serviceAccount:...) who run backfills and replay dead letters."
  type        = list(string)
  default     = []
}
