variable "project_id" {
  description = "Google Cloud project."
  type        = string
}

variable "region" {
  description = "Region of the subnet, connector, router and NAT."
  type        = string
}

variable "prefix" {
  description = "Name prefix of every resource (e.g. logo-ann-dev)."
  type        = string
}

variable "subnet_cidr" {
  description = "Primary range of the subnet that holds the Triton instances and their internal load balancer."
  type        = string
  default     = "10.10.0.0/24"
  validation {
    condition     = can(cidrhost(var.subnet_cidr, 0))
    error_message = "subnet_cidr must be an IPv4 CIDR range."
  }
}

variable "connector_cidr" {
  description = "Unused /28 range for the Serverless VPC Access connector the functions egress through."
  type        = string
  default     = "10.8.0.0/28"
  validation {
    condition     = can(cidrhost(var.connector_cidr, 0)) && endswith(var.connector_cidr, "/28")
    error_message = "connector_cidr must be an IPv4 /28 range."
  }
}

variable "connector_instances" {
  description = "Minimum and maximum connector instances (throughput scales with them)."
  type = object({
    min = number
    max = number
  })
  default = { min = 2, max = 3 }
  validation {
    condition     = var.connector_instances.min >= 2 && var.connector_instances.max > var.connector_instances.min && var.connector_instances.max <= 10
    error_message = "Connector instances need 2 <= min < max <= 10."
  }
}
