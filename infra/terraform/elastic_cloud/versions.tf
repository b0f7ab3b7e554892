terraform {
  required_version = ">= 1.5"

  # State lives in the environment's state bucket, under its own prefix.
  backend "gcs" {}

  required_providers {
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

# Reads EC_API_KEY from the environment.
provider "ec" {}

# Unconfigured on purpose: the API key resource connects with the deployment's own credentials.
provider "elasticstack" {
  elasticsearch {}
}
