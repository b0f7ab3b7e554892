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

variable "es_url" {
  description = "HTTPS URL of the Elasticsearch 8.x cluster: `terraform -chdir=../../elastic_cloud output -raw url`, or an existing cluster's."
  type        = string
  validation {
    condition     = startswith(var.es_url, "https://")
    error_message = "es_url must be an https:// URL: the API key travels with every request."
  }
}

variable "es_api_key" {
  description = "Encoded API key of the cluster; set it with TF_VAR_es_api_key (`terraform -chdir=../../elastic_cloud output -raw api_key`)."
  type        = string
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
