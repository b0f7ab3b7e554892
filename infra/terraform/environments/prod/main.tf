# prod: warm search instances, a regional database with deletion protection, on-demand GPU.

module "logo_ann" {
  source              = "../../modules/logo_ann"
  project_id          = var.project_id
  environment         = "prod"
  region              = var.region
  triton_zones        = var.triton_zones
  source_dir          = abspath("${path.root}/${var.source_dir}")
  deletion_protection = true
  existing_es_api_key = var.es_api_key
  operators           = var.operators

  functions = {
    detect      = { memory = "2Gi", cpu = "1", timeout_s = 120, min_instances = 0, max_instances = 20, concurrency = 4 }
    embed_index = { memory = "2Gi", cpu = "1", timeout_s = 300, min_instances = 0, max_instances = 20, concurrency = 4 }
    search      = { memory = "4Gi", cpu = "2", timeout_s = 60, min_instances = 1, max_instances = 10, concurrency = 16 }
  }

  database = {
    tier              = "db-custom-2-7680"
    availability_type = "REGIONAL"
    disk_size_gb      = 50
    max_connections   = 500
    backups           = 30
  }

  elasticsearch = {
    mode         = var.elasticsearch_mode
    ec_hot_size  = "8g"
    ec_zones     = 2
    existing_url = var.es_url
  }

  triton = {
    instances = 1
    spot      = false
  }

  alerts = {
    emails        = var.alert_emails
    search_p95_ms = 500
  }

  uploads_nearline_after_days = 90
}
