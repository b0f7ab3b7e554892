variable "name" {
  description = "Deployment name."
  type        = string
}

variable "ec_region" {
  description = "Elastic Cloud region, e.g. gcp-europe-west1."
  type        = string
  default     = "gcp-europe-west1"
  validation {
    condition     = startswith(var.ec_region, "gcp-")
    error_message = "ec_region must be an Elastic Cloud region on Google Cloud (gcp-...), next to the functions."
  }
}

variable "ec_version_regex" {
  description = "Stack version pattern; stays on 8.x because the client is pinned to elasticsearch>=8,<9."
  type        = string
  default     = "8.?.?"
  validation {
    condition     = startswith(var.ec_version_regex, "8.")
    error_message = "The Python client is pinned to 8.x: the stack must be 8.x."
  }
}

variable "ec_hot_size" {
  description = "Memory per zone of the hot tier, e.g. 4g (about 600 B of RAM per int8 512-d vector)."
  type        = string
  default     = "4g"
  validation {
    condition     = can(regex("^[0-9]+g$", var.ec_hot_size))
    error_message = "ec_hot_size must look like 4g."
  }
}

variable "ec_zone_count" {
  description = "Availability zones of the hot tier (1 to 3)."
  type        = number
  default     = 1
  validation {
    condition     = var.ec_zone_count >= 1 && var.ec_zone_count <= 3
    error_message = "ec_zone_count must be 1, 2 or 3."
  }
}

variable "index_pattern" {
  description = "Indices the functions' API key may use (the key can touch nothing else)."
  type        = string
  default     = "logo*"
}
