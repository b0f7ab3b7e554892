terraform {
  required_version = ">= 1.5"
  required_providers {
    google = {
      source  = "hashicorp/google"
      version = ">= 6.0, < 7.0"
    }
    random = {
      source  = "hashicorp/random"
      version = ">= 3.6, < 4.0"
    }
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
