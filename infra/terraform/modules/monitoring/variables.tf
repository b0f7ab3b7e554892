variable "project_id" {
  description = "Google Cloud project."
  type        = string
}

variable "prefix" {
  description = "Name prefix shown in the alert names."
  type        = string
}

variable "notification_emails" {
  description = "Addresses notified when an alert fires (empty: alerts only show in the console)."
  type        = list(string)
  default     = []
  validation {
    condition     = alltrue([for email in var.notification_emails : can(regex("^[^@ ]+@[^@ ]+$", email))])
    error_message = "notification_emails must be email addresses."
  }
}

variable "services" {
  description = "Cloud Run service names of the functions whose 5xx rate is watched."
  type        = list(string)
}

variable "search_service" {
  description = "Cloud Run service name of the search function."
  type        = string
}

variable "dead_letter_subscriptions" {
  description = "Subscriptions whose dead-lettered messages raise an alert."
  type        = list(string)
}

variable "error_rate_threshold" {
  description = "Share of 5xx responses (0 to 1) over 5 minutes that raises an alert."
  type        = number
  default     = 0.05
  validation {
    condition     = var.error_rate_threshold > 0 && var.error_rate_threshold < 1
    error_message = "error_rate_threshold must be in (0, 1)."
  }
}

variable "search_p95_ms" {
  description = "95th-percentile search latency (ms) over 5 minutes that raises an alert."
  type        = number
  default     = 1000
  validation {
    condition     = var.search_p95_ms > 0
    error_message = "search_p95_ms must be positive."
  }
}
