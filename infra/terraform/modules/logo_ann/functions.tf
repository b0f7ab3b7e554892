# The functions. What each one receives (its plain settings, its secrets, its trigger and the
# queues it publishes to) is common/deploy.py's description, rendered into wiring.json
# (`python -m common.deploy`); tests/infra fails when the file and the description differ. This
# file only supplies the values the deployment owns (bucket, topic and service addresses, sizes)
# under the setting names the wiring asks for. Settings left out keep their defaults.

locals {
  wiring      = jsondecode(file("${path.module}/wiring.json"))
  s3_endpoint = "https://storage.googleapis.com"
  secret      = { for name in local.secret_names : name => google_secret_manager_secret.this[name].secret_id }
  topics = {
    crops    = google_pubsub_topic.crops
    backfill = google_pubsub_topic.backfill
  }
  # The values of the wiring's "deployed" settings, by setting name.
  deployed = {
    for name in keys(local.wiring.functions) : name => {
      bucket               = google_storage_bucket.uploads.name
      s3_endpoint_url      = local.s3_endpoint
      pubsub_project       = var.project_id
      crops_topic          = google_pubsub_topic.crops.name
      triton_url           = module.triton.url
      detector_triton_name = var.models.detector
      embedder_triton_name = var.models.embedder
      es_url               = var.es_url
      es_index             = var.es_index
      # one database connection per concurrent request
      db_pool_size = tostring(var.functions[name].concurrency)
      max_attempts = tostring(var.max_delivery_attempts)
    }
  }
  environment = {
    for name, fn in local.wiring.functions : name => merge(
      fn.environment,
      { for env, setting in fn.deployed : env => local.deployed[name][setting] },
    )
  }
  secrets = {
    for name, fn in local.wiring.functions : name => { for env, secret in fn.secrets : env => local.secret[secret] }
  }
  storage_trigger = {
    for name, dep in local.wiring.deployments : name => {
      event_type            = dep.trigger.event_type
      retry_policy          = dep.trigger.retry_policy
      service_account_email = google_service_account.events.email
      bucket                = google_storage_bucket.uploads.name
    } if dep.trigger.kind == "storage"
  }
  function_common = {
    project_id            = var.project_id
    region                = var.region
    source_bucket         = google_storage_bucket.sources.name
    build_service_account = google_service_account.build.id
    vpc_connector         = module.network.connector_id
  }
}

module "detect" {
  source                = "../function"
  project_id            = local.function_common.project_id
  region                = local.function_common.region
  source_bucket         = local.function_common.source_bucket
  build_service_account = local.function_common.build_service_account
  vpc_connector         = local.function_common.vpc_connector
  name                  = "${local.prefix}-detect"
  entry_point           = local.wiring.functions[local.wiring.deployments.detect.function].entry_point
  source_archive        = "${var.source_dir}/detect.zip"
  service_account_email = google_service_account.function["detect"].email
  sizing                = var.functions["detect"]
  labels                = local.labels
  event_trigger         = local.storage_trigger["detect"]
  environment           = local.environment["detect"]
  secrets               = local.secrets["detect"]
  depends_on            = [google_secret_manager_secret_version.this, google_secret_manager_secret_iam_member.reader]
}

# Deletions reach the same code through a second deployment of detect (one trigger per function).
module "detect_deleted" {
  source                = "../function"
  project_id            = local.function_common.project_id
  region                = local.function_common.region
  source_bucket         = local.function_common.source_bucket
  build_service_account = local.function_common.build_service_account
  vpc_connector         = local.function_common.vpc_connector
  name                  = "${local.prefix}-detect-deleted"
  entry_point           = local.wiring.functions[local.wiring.deployments.detect_deleted.function].entry_point
  source_archive        = "${var.source_dir}/detect.zip"
  service_account_email = google_service_account.function["detect"].email
  sizing                = merge(var.functions["detect"], { min_instances = 0 })
  labels                = local.labels
  event_trigger         = local.storage_trigger["detect_deleted"]
  environment           = local.environment["detect"]
  secrets               = local.secrets["detect"]
  depends_on            = [google_secret_manager_secret_version.this, google_secret_manager_secret_iam_member.reader]
}

# Reached by the crops push subscription (pubsub.tf), which owns retries and dead-lettering.
module "embed_index" {
  source                = "../function"
  project_id            = local.function_common.project_id
  region                = local.function_common.region
  source_bucket         = local.function_common.source_bucket
  build_service_account = local.function_common.build_service_account
  vpc_connector         = local.function_common.vpc_connector
  name                  = "${local.prefix}-embed-index"
  entry_point           = local.wiring.functions[local.wiring.deployments.embed_index.function].entry_point
  source_archive        = "${var.source_dir}/embed_index.zip"
  service_account_email = google_service_account.function["embed_index"].email
  sizing                = var.functions["embed_index"]
  labels                = local.labels
  environment           = local.environment["embed_index"]
  secrets               = local.secrets["embed_index"]
  depends_on            = [google_secret_manager_secret_version.this, google_secret_manager_secret_iam_member.reader]
}

# The public API. Its cost under a flood is bounded by var.functions["search"]: at most
# max_instances instances run, each serving concurrency requests at once; requests beyond that
# wait briefly in Cloud Run's queue and are refused with 429. So a flood costs at most
# max_instances instances' time (the environments' sizing says why their numbers).
module "search" {
  source                = "../function"
  project_id            = local.function_common.project_id
  region                = local.function_common.region
  source_bucket         = local.function_common.source_bucket
  build_service_account = local.function_common.build_service_account
  vpc_connector         = local.function_common.vpc_connector
  name                  = "${local.prefix}-search"
  entry_point           = local.wiring.functions[local.wiring.deployments.search.function].entry_point
  source_archive        = "${var.source_dir}/search.zip"
  service_account_email = google_service_account.function["search"].email
  sizing                = var.functions["search"]
  labels                = local.labels
  ingress               = local.wiring.deployments.search.trigger.public ? "ALLOW_ALL" : "ALLOW_INTERNAL_ONLY"
  environment           = local.environment["search"]
  secrets               = local.secrets["search"]
  depends_on            = [google_secret_manager_secret_version.this, google_secret_manager_secret_iam_member.reader]
}
