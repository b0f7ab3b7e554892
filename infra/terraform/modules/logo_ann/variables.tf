variable "project_id" {
  description = "Google Cloud project that hosts the environment."
  type        = string
  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$", var.project_id))
    error_message = "project_id must be a Google Cloud project id."
  }
}

variable "environment" {
  description = "Environment name, used in every resource name (dev, prod)."
  type        = string
  validation {
    condition     = contains(["dev", "prod"], var.environment)
    error_message = "environment must be dev or prod."
  }
}

variable "region" {
  description = "Region of the functions, buckets, database, Triton and topics."
  type        = string
  default     = "europe-west1"
}

variable "triton_zones" {
  description = "Zones of the region that offer the Triton GPU type."
  type        = list(string)
  default     = ["europe-west1-b", "europe-west1-c", "europe-west1-d"]
}

variable "source_dir" {
  description = "Folder of the function archives built by infra/terraform/build_sources.py (detect.zip, embed_index.zip, search.zip)."
  type        = string
}

variable "functions" {
  description = "Sizing of each function: memory, vCPU, timeout, min/max instances and per-instance concurrency."
  type = map(object({
    memory        = string
    cpu           = string
    timeout_s     = number
    min_instances = number
    max_instances = number
    concurrency   = number
  }))
  validation {
    condition     = toset(keys(var.functions)) == toset(["detect", "embed_index", "search"])
    error_message = "functions must size exactly detect, embed_index and search."
  }
  validation {
    condition     = var.functions["search"].max_instances <= 20 && var.functions["search"].concurrency <= 32
    error_message = "search is public: its max_instances (at most 20) and concurrency (at most 32) cap what a flood costs."
  }
  validation {
    condition     = var.functions["embed_index"].timeout_s <= 600
    error_message = "embed_index's timeout must fit the push subscription's 600 s acknowledgement deadline."
  }
}

variable "search_public" {
  description = "Let anyone call the search API without credentials (the Robotoff-compatible routes are public)."
  type        = bool
  default     = true
}

variable "max_delivery_attempts" {
  description = "Deliveries of a crops message before it goes to the dead-letter topic."
  type        = number
  default     = 5
  validation {
    condition     = var.max_delivery_attempts >= 5 && var.max_delivery_attempts <= 100
    error_message = "Pub/Sub accepts 5 to 100 delivery attempts."
  }
}

variable "uploads_nearline_after_days" {
  description = "Move uploaded images to Nearline after this many days (null keeps them in Standard)."
  type        = number
  default     = null
  validation {
    condition     = var.uploads_nearline_after_days == null || try(var.uploads_nearline_after_days >= 30, false)
    error_message = "Nearline has a 30-day minimum storage duration: use 30 or more, or null."
  }
}

variable "deletion_protection" {
  description = "Protect the database and buckets from destruction (true in prod)."
  type        = bool
}

variable "database" {
  description = "Cloud SQL tier, availability, disk size, max_connections and number of daily backups kept."
  type = object({
    tier              = string
    availability_type = string
    disk_size_gb      = number
    max_connections   = number
    backups           = number
  })
}

variable "es_url" {
  description = "HTTPS URL of the Elasticsearch 8.x cluster (infra/terraform/elastic_cloud makes one on Elastic Cloud)."
  type        = string
  validation {
    condition     = startswith(var.es_url, "https://")
    error_message = "es_url must be an https:// URL."
  }
}

variable "es_api_key" {
  description = "Encoded API key of the cluster (base64 of id:key); it goes straight to Secret Manager."
  type        = string
  sensitive   = true
  validation {
    condition     = length(var.es_api_key) > 0
    error_message = "es_api_key must be set (TF_VAR_es_api_key)."
  }
}

variable "es_index" {
  description = "Elasticsearch index of the logo embeddings."
  type        = string
  default     = "logo"
  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9_-]*$", var.es_index))
    error_message = "es_index must be a lowercase Elasticsearch index name."
  }
}

variable "triton" {
  description = "Triton image, machine type, GPU, instance count and Spot provisioning."
  type = object({
    image        = optional(string, "nvcr.io/nvidia/tritonserver:24.08-py3")
    machine_type = optional(string, "n1-standard-4")
    gpu_type     = optional(string, "nvidia-tesla-t4")
    gpu_count    = optional(number, 1)
    instances    = optional(number, 1)
    spot         = optional(bool, false)
  })
  default = {}
}

variable "models" {
  description = "Triton model names of the detector and the embedder (directories of the model repository)."
  type = object({
    detector = optional(string, "universal_logo_detector_yolo")
    embedder = optional(string, "clip")
  })
  default = {}
}

variable "alerts" {
  description = "Notification emails, 5xx share and search p95 latency (ms) that raise alerts."
  type = object({
    emails        = optional(list(string), [])
    error_rate    = optional(number, 0.05)
    search_p95_ms = optional(number, 1000)
  })
  default = {}
}

variable "backfill_max_delivery_attempts" {
  description = "Deliveries of a backfill message to detect before it goes to the backfill dead-letter topic."
  type        = number
  default     = 5
  validation {
    condition     = var.backfill_max_delivery_attempts >= 5 && var.backfill_max_delivery_attempts <= 100
    error_message = "Pub/Sub accepts 5 to 100 delivery attempts."
  }
}

variable "operators" {
  description = "Members (user:..., serviceAccount:...) who run backfills and replay dead letters."
  type        = list(string)
  default     = []
}
