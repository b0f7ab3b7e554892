terraform {
  required_version = ">= 1.5"
  required_providers {
    ec = {
      source  = "elastic/ec"
      version = ">= 0.12, < 1.0"
    }
    elasticstack = {
      source  = "elastic/elasticstack"
      version = ">= 0.11, < 1.0"
    }
  }
}
