variable "project_id" {
  description = "Google Cloud project that hosts the function."
  type        = string
}

variable "region" {
  description = "Region of the function and of its triggers."
  type        = string
}

variable "name" {
  description = "Function name (also the name of its Cloud Run service)."
  type        = string
  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,61}[a-z0-9]$", var.name))
    error_message = "name must be lowercase letters, digits and dashes, 2 to 63 characters, starting with a letter."
  }
}

variable "entry_point" {
  description = "Python function called by functions-framework, defined in the archive's main.py."
  type        = string
}

variable "source_archive" {
  description = "Local path of the zip holding main.py, common/ and requirements.txt (see build_sources.py)."
  type        = string
  validation {
    condition     = endswith(var.source_archive, ".zip")
    error_message = "source_archive must be a .zip built by infra/terraform/build_sources.py."
  }
}

variable "source_bucket" {
  description = "Bucket that stores function source archives."
  type        = string
}

variable "build_service_account" {
  description = "Full id (projects/P/serviceAccounts/EMAIL) of the account Cloud Build uses to build the function."
  type        = string
}

variable "service_account_email" {
  description = "Identity the function runs as (one least-privilege account per function)."
  type        = string
}

variable "environment" {
  description = "Plain environment variables (LOGO_ANN_*). Never put a secret here: use secrets."
  type        = map(string)
  default     = {}
}

variable "secrets" {
  description = "Environment variable name => Secret Manager secret id, resolved at instance start."
  type        = map(string)
  default     = {}
}

variable "sizing" {
  description = "Memory (e.g. 2Gi), vCPU, timeout, instance bounds and per-instance request concurrency."
  type = object({
    memory        = string
    cpu           = string
    timeout_s     = number
    min_instances = number
    max_instances = number
    concurrency   = number
  })
  validation {
    condition     = can(regex("^[0-9]+(Mi|Gi)$", var.sizing.memory))
    error_message = "sizing.memory must look like 512Mi or 2Gi."
  }
  validation {
    condition     = var.sizing.min_instances >= 0 && var.sizing.max_instances >= max(1, var.sizing.min_instances)
    error_message = "sizing needs 0 <= min_instances <= max_instances and max_instances >= 1."
  }
  validation {
    condition     = var.sizing.concurrency == 1 || tonumber(var.sizing.cpu) >= 1
    error_message = "Concurrency above 1 needs at least one vCPU."
  }
  validation {
    condition     = var.sizing.timeout_s >= 1 && var.sizing.timeout_s <= 540
    error_message = "Event-driven functions time out after at most 540 s."
  }
}

variable "ingress" {
  description = "Who may reach the function: ALLOW_ALL, ALLOW_INTERNAL_ONLY or ALLOW_INTERNAL_AND_GCLB."
  type        = string
  default     = "ALLOW_INTERNAL_ONLY"
  validation {
    condition     = contains(["ALLOW_ALL", "ALLOW_INTERNAL_ONLY", "ALLOW_INTERNAL_AND_GCLB"], var.ingress)
    error_message = "ingress must be ALLOW_ALL, ALLOW_INTERNAL_ONLY or ALLOW_INTERNAL_AND_GCLB."
  }
}

variable "vpc_connector" {
  description = "Serverless VPC Access connector id, for Cloud SQL's private IP and Triton's internal address."
  type        = string
}

variable "event_trigger" {
  description = "Eventarc trigger, or null for a function reached over HTTP (search) or a push subscription."
  type = object({
    event_type            = string
    retry_policy          = string
    service_account_email = string
    bucket                = optional(string)
    pubsub_topic          = optional(string)
  })
  default = null
  validation {
    condition     = var.event_trigger == null || contains(["RETRY_POLICY_RETRY", "RETRY_POLICY_DO_NOT_RETRY"], try(var.event_trigger.retry_policy, ""))
    error_message = "event_trigger.retry_policy must be RETRY_POLICY_RETRY or RETRY_POLICY_DO_NOT_RETRY."
  }
}

variable "labels" {
  description = "Labels put on the function."
  type        = map(string)
  default     = {}
}
