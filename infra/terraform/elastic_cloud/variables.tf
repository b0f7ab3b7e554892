variable "name" {
  description = "Deployment name, e.g. logo-ann-dev."
  type        = string
}

variable "ec_region" {
  description = "Elastic Cloud region on Google Cloud, next to the functions."
  type        = string
  default     = "gcp-europe-west1"
}

variable "ec_hot_size" {
  description = "Memory per zone of the hot tier: 1g for dev, 8g for prod."
  type        = string
  default     = "1g"
}

variable "ec_zones" {
  description = "Availability zones of the hot tier: 1 for dev, 2 for prod."
  type        = number
  default     = 1
}

variable "es_index" {
  description = "Index (and alias) of the logo embeddings: the API key is limited to it."
  type        = string
  default     = "logo"
}
