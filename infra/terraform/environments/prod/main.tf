# prod: warm search instances, a regional database with deletion protection, on-demand GPU.

module "logo_ann" {
  source              = "../../modules/logo_ann"
  project_id          = var.project_id
  environment         = "prod"
  region              = var.region
  triton_zones        = var.triton_zones
  source_dir          = abspath("${path.root}/${var.source_dir}")
  deletion_protection = true
  es_url              = var.es_url
  es_api_key          = var.es_api_key
  operators           = var.operators

  # search bounds what a flood costs: at most max_instances = 10 instances (2 vCPU, 4 GiB each) run at
  # once, so a flood of any size bills at most 20 vCPU-seconds and 40 GiB-seconds per second
  # (72,000 vCPU-s and 144,000 GiB-s an hour). Requests past 10 x 16 in flight wait briefly in Cloud Run's
  # queue and are then refused with 429; no further instance starts. concurrency = 16 (8 a vCPU):
  # a search waits on Elasticsearch, PostgreSQL and Triton far longer than it computes, and each
  # request in flight holds one of the instance's 16 database connections (db_pool_size =
  # concurrency; the database_connections check keeps the total within max_connections).
  # min_instances = 1 keeps one instance warm.
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
