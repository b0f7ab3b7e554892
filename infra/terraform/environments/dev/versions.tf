terraform {
  required_version = ">= 1.5"

  # State lives in a bucket made once per project (see README): terraform init -backend-config=...
  backend "gcs" {}

  required_providers {
    google = {
      source  = "hashicorp/google"
      version = "~> 6.10"
    }
    random = {
      source  = "hashicorp/random"
      version = "~> 3.6"
    }
    ec = {
      source  = "elastic/ec"
      version = "~> 0.12"
    }
    elasticstack = {
      source  = "elastic/elasticstack"
      version = "~> 0.11"
    }
  }
}

provider "google" {
  project = var.project_id
  region  = var.region
}

# Reads EC_API_KEY from the environment; only used when elasticsearch_mode is elastic_cloud.
provider "ec" {}

# Unconfigured on purpose: the API key resource connects with the deployment's own credentials.
provider "elasticstack" {
  elasticsearch {}
}
