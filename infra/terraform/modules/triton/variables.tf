variable "project_id" {
  description = "Google Cloud project."
  type        = string
}

variable "region" {
  description = "Region of the managed instance group and its internal load balancer."
  type        = string
}

variable "zones" {
  description = "Zones the instances may run in (pick ones that offer the GPU type)."
  type        = list(string)
  validation {
    condition     = length(var.zones) >= 1
    error_message = "Give at least one zone."
  }
}

variable "prefix" {
  description = "Name prefix (e.g. logo-ann-dev)."
  type        = string
}

variable "network_id" {
  description = "VPC network."
  type        = string
}

variable "subnet_id" {
  description = "Subnet of the instances and of the load balancer's address."
  type        = string
}

variable "client_cidrs" {
  description = "Only these source ranges (the functions' VPC connector) may reach Triton."
  type        = list(string)
  validation {
    condition     = alltrue([for cidr in var.client_cidrs : can(cidrhost(cidr, 0)) && cidr != "0.0.0.0/0"])
    error_message = "client_cidrs must be private IPv4 ranges, never 0.0.0.0/0."
  }
}

variable "model_bucket" {
  description = "Bucket holding the Triton model repository (<model>/config.pbtxt, <model>/1/model.onnx)."
  type        = string
}

variable "triton_image" {
  description = "Triton server container image (mirror it to Artifact Registry to avoid pulling from nvcr.io)."
  type        = string
  default     = "nvcr.io/nvidia/tritonserver:24.08-py3"
}

variable "machine_type" {
  description = "Machine type of each instance."
  type        = string
  default     = "n1-standard-4"
}

variable "gpu" {
  description = "GPU attached to each instance, e.g. nvidia-tesla-t4 (n1) or nvidia-l4 (g2)."
  type = object({
    type  = string
    count = number
  })
  default = { type = "nvidia-tesla-t4", count = 1 }
  validation {
    condition     = startswith(var.gpu.type, "nvidia-") && var.gpu.count >= 1
    error_message = "gpu.type must be an nvidia-* accelerator and gpu.count at least 1."
  }
}

variable "instances" {
  description = "Number of Triton instances (0 parks the GPU: the functions then fail and retry)."
  type        = number
  default     = 1
  validation {
    condition     = var.instances >= 0 && var.instances <= 10
    error_message = "instances must be between 0 and 10."
  }
}

variable "spot" {
  description = "Run on Spot VMs (cheaper, may be preempted: fine for dev, where retries absorb it)."
  type        = bool
  default     = false
}
