variable "project_id" {
  description = "Google Cloud project."
  type        = string
}

variable "region" {
  description = "Region of the Cloud SQL instance."
  type        = string
}

variable "prefix" {
  description = "Name prefix (e.g. logo-ann-dev)."
  type        = string
}

variable "network_id" {
  description = "VPC network that reaches the instance's private IP."
  type        = string
}

variable "private_services_connection" {
  description = "Private service access peering the private IP depends on."
  type        = string
}

variable "tier" {
  description = "Machine tier, e.g. db-custom-1-3840."
  type        = string
  default     = "db-custom-1-3840"
  validation {
    condition     = can(regex("^db-(custom-[0-9]+-[0-9]+|perf-optimized-N-[0-9]+|f1-micro|g1-small)$", var.tier))
    error_message = "tier must be a Cloud SQL PostgreSQL tier such as db-custom-1-3840."
  }
}

variable "availability_type" {
  description = "ZONAL or REGIONAL (high availability)."
  type        = string
  default     = "ZONAL"
  validation {
    condition     = contains(["ZONAL", "REGIONAL"], var.availability_type)
    error_message = "availability_type must be ZONAL or REGIONAL."
  }
}

variable "disk_size_gb" {
  description = "Initial SSD size in GB (grows automatically)."
  type        = number
  default     = 20
  validation {
    condition     = var.disk_size_gb >= 10
    error_message = "disk_size_gb must be at least 10."
  }
}

variable "max_connections" {
  description = "PostgreSQL max_connections; must cover every function instance's pool."
  type        = number
  default     = 200
  validation {
    condition     = var.max_connections >= 25 && var.max_connections <= 10000
    error_message = "max_connections must be between 25 and 10000."
  }
}

variable "backup_retained_count" {
  description = "Number of daily backups kept."
  type        = number
  default     = 14
  validation {
    condition     = var.backup_retained_count >= 1 && var.backup_retained_count <= 365
    error_message = "backup_retained_count must be between 1 and 365."
  }
}

variable "deletion_protection" {
  description = "Refuse to destroy the instance (true in prod)."
  type        = bool
}
