# dev: small and cheap. Scale to zero, Spot GPU, zonal database without deletion protection.

module "logo_ann" {
  source              = "../../modules/logo_ann"
  project_id          = var.project_id
  environment         = "dev"
  region              = var.region
  triton_zones        = var.triton_zones
  source_dir          = abspath("${path.root}/${var.source_dir}")
  deletion_protection = false
  existing_es_api_key = var.es_api_key
  operators           = var.operators

  functions = {
    detect      = { memory = "2Gi", cpu = "1", timeout_s = 120, min_instances = 0, max_instances = 5, concurrency = 4 }
    embed_index = { memory = "2Gi", cpu = "1", timeout_s = 300, min_instances = 0, max_instances = 5, concurrency = 4 }
    search      = { memory = "2Gi", cpu = "1", timeout_s = 60, min_instances = 0, max_instances = 3, concurrency = 8 }
  }

  database = {
    tier              = "db-custom-1-3840"
    availability_type = "ZONAL"
    disk_size_gb      = 10
    max_connections   = 100
    backups           = 7
  }

  elasticsearch = {
    mode         = var.elasticsearch_mode
    ec_hot_size  = "1g"
    ec_zones     = 1
    existing_url = var.es_url
  }

  triton = {
    spot = true
  }

  alerts = {
    emails = var.alert_emails
  }
}
