# dev: small and cheap. Scale to zero, Spot GPU, zonal database without deletion protection.

module "logo_ann" {
  source              = "../../modules/logo_ann"
  project_id          = var.project_id
  environment         = "dev"
  region              = var.region
  triton_zones        = var.triton_zones
  source_dir          = abspath("${path.root}/${var.source_dir}")
  deletion_protection = false
  es_url              = var.es_url
  es_api_key          = var.es_api_key
  operators           = var.operators

  # search bounds what a flood costs: at most max_instances = 3 instances (1 vCPU, 2 GiB each) run at
  # once, so a flood of any size bills at most 3 vCPU-seconds and 6 GiB-seconds per second
  # (10,800 vCPU-s and 21,600 GiB-s an hour). Requests past 3 x 8 in flight wait briefly in Cloud Run's
  # queue and are then refused with 429; no further instance starts. concurrency = 8 a vCPU:
  # a search waits on Elasticsearch, PostgreSQL and Triton far longer than it computes, and each
  # request in flight holds one of the instance's 8 database connections (db_pool_size =
  # concurrency; the database_connections check keeps the total within max_connections).
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

  triton = {
    spot = true
  }

  alerts = {
    emails = var.alert_emails
  }
}
