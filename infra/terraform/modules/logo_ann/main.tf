# Logo-ANN on Google Cloud: storage, queue, database, index, Triton, functions and alerts for one
# environment. Each piece lives in its own file; the shared building blocks are sibling modules.

locals {
  prefix = "logo-ann-${var.environment}"
  labels = {
    app         = "logo-ann"
    environment = var.environment
  }
  # The functions' DB pools (one connection per concurrent request) must fit max_connections.
  db_connections = sum([for name, size in var.functions : size.max_instances * size.concurrency]) + var.functions["detect"].max_instances * var.functions["detect"].concurrency
}

data "google_project" "this" {
  project_id = var.project_id
}

module "network" {
  source     = "../network"
  project_id = var.project_id
  region     = var.region
  prefix     = local.prefix
}

module "database" {
  source                      = "../database"
  project_id                  = var.project_id
  region                      = var.region
  prefix                      = local.prefix
  network_id                  = module.network.network_id
  private_services_connection = module.network.private_services_connection
  tier                        = var.database.tier
  availability_type           = var.database.availability_type
  disk_size_gb                = var.database.disk_size_gb
  max_connections             = var.database.max_connections
  backup_retained_count       = var.database.backups
  deletion_protection         = var.deletion_protection
}

module "triton" {
  source       = "../triton"
  project_id   = var.project_id
  region       = var.region
  zones        = var.triton_zones
  prefix       = local.prefix
  network_id   = module.network.network_id
  subnet_id    = module.network.subnet_id
  client_cidrs = [module.network.connector_cidr]
  model_bucket = google_storage_bucket.models.name
  triton_image = var.triton.image
  machine_type = var.triton.machine_type
  gpu          = { type = var.triton.gpu_type, count = var.triton.gpu_count }
  instances    = var.triton.instances
  spot         = var.triton.spot
}

module "monitoring" {
  source                    = "../monitoring"
  project_id                = var.project_id
  prefix                    = local.prefix
  notification_emails       = var.alerts.emails
  services                  = [module.detect.name, module.detect_deleted.name, module.embed_index.name, module.search.name]
  search_service            = module.search.name
  dead_letter_subscriptions = [google_pubsub_subscription.embed_index.name]
  error_rate_threshold      = var.alerts.error_rate
  search_p95_ms             = var.alerts.search_p95_ms
}

check "database_connections" {
  assert {
    condition     = local.db_connections <= var.database.max_connections - 10
    error_message = "The functions may open ${local.db_connections} connections; raise database.max_connections or lower max_instances/concurrency."
  }
}
