# The functions. Each module call spells out the plain settings (LOGO_ANN_*) and the secrets the
# function reads, and nothing else: tests/infra checks both maps against common/deploy.py.
# Settings left out keep their defaults from common/settings.py.

locals {
  s3_endpoint = "https://storage.googleapis.com"
  secret      = { for name in local.secret_names : name => google_secret_manager_secret.this[name].secret_id }
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
  entry_point           = "detect"
  source_archive        = "${var.source_dir}/detect.zip"
  service_account_email = google_service_account.function["detect"].email
  sizing                = var.functions["detect"]
  labels                = local.labels
  event_trigger = {
    event_type            = "google.cloud.storage.object.v1.finalized"
    retry_policy          = "RETRY_POLICY_RETRY"
    service_account_email = google_service_account.events.email
    bucket                = google_storage_bucket.uploads.name
  }
  environment = {
    LOGO_ANN_IMAGE_STORE          = "s3"
    LOGO_ANN_BUCKET               = google_storage_bucket.uploads.name
    LOGO_ANN_S3_ENDPOINT_URL      = local.s3_endpoint
    LOGO_ANN_QUEUE                = "pubsub"
    LOGO_ANN_PUBSUB_PROJECT       = var.project_id
    LOGO_ANN_CROPS_TOPIC          = google_pubsub_topic.crops.name
    LOGO_ANN_MODEL_RUNTIME        = "triton"
    LOGO_ANN_TRITON_URL           = module.triton.url
    LOGO_ANN_DETECTOR_TRITON_NAME = var.models.detector
    LOGO_ANN_INDEX                = "elasticsearch"
    LOGO_ANN_ES_URL               = module.elasticsearch.url
    LOGO_ANN_ES_INDEX             = var.es_index
    LOGO_ANN_STORE                = "postgres"
    LOGO_ANN_DB_POOL_SIZE         = tostring(var.functions["detect"].concurrency)
  }
  secrets = {
    LOGO_ANN_DATABASE_URL         = local.secret["database_url"]
    LOGO_ANN_ES_API_KEY           = local.secret["es_api_key"]
    LOGO_ANN_S3_ACCESS_KEY_ID     = local.secret["s3_access_key_id-detect"]
    LOGO_ANN_S3_SECRET_ACCESS_KEY = local.secret["s3_secret_access_key-detect"]
  }
  depends_on = [google_secret_manager_secret_version.this, google_secret_manager_secret_iam_member.reader]
}

# Cloud Run functions take one trigger each: deletions reach the same code through a second
# deployment of detect, so both storage events have their own retry policy.
module "detect_deleted" {
  source                = "../function"
  project_id            = local.function_common.project_id
  region                = local.function_common.region
  source_bucket         = local.function_common.source_bucket
  build_service_account = local.function_common.build_service_account
  vpc_connector         = local.function_common.vpc_connector
  name                  = "${local.prefix}-detect-deleted"
  entry_point           = "detect"
  source_archive        = "${var.source_dir}/detect.zip"
  service_account_email = google_service_account.function["detect"].email
  sizing                = merge(var.functions["detect"], { min_instances = 0 })
  labels                = local.labels
  event_trigger = {
    event_type            = "google.cloud.storage.object.v1.deleted"
    retry_policy          = "RETRY_POLICY_RETRY"
    service_account_email = google_service_account.events.email
    bucket                = google_storage_bucket.uploads.name
  }
  environment = {
    LOGO_ANN_IMAGE_STORE          = "s3"
    LOGO_ANN_BUCKET               = google_storage_bucket.uploads.name
    LOGO_ANN_S3_ENDPOINT_URL      = local.s3_endpoint
    LOGO_ANN_QUEUE                = "pubsub"
    LOGO_ANN_PUBSUB_PROJECT       = var.project_id
    LOGO_ANN_CROPS_TOPIC          = google_pubsub_topic.crops.name
    LOGO_ANN_MODEL_RUNTIME        = "triton"
    LOGO_ANN_TRITON_URL           = module.triton.url
    LOGO_ANN_DETECTOR_TRITON_NAME = var.models.detector
    LOGO_ANN_INDEX                = "elasticsearch"
    LOGO_ANN_ES_URL               = module.elasticsearch.url
    LOGO_ANN_ES_INDEX             = var.es_index
    LOGO_ANN_STORE                = "postgres"
    LOGO_ANN_DB_POOL_SIZE         = tostring(var.functions["detect"].concurrency)
  }
  secrets = {
    LOGO_ANN_DATABASE_URL         = local.secret["database_url"]
    LOGO_ANN_ES_API_KEY           = local.secret["es_api_key"]
    LOGO_ANN_S3_ACCESS_KEY_ID     = local.secret["s3_access_key_id-detect"]
    LOGO_ANN_S3_SECRET_ACCESS_KEY = local.secret["s3_secret_access_key-detect"]
  }
  depends_on = [google_secret_manager_secret_version.this, google_secret_manager_secret_iam_member.reader]
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
  entry_point           = "embed_index"
  source_archive        = "${var.source_dir}/embed_index.zip"
  service_account_email = google_service_account.function["embed_index"].email
  sizing                = var.functions["embed_index"]
  labels                = local.labels
  environment = {
    LOGO_ANN_IMAGE_STORE          = "s3"
    LOGO_ANN_BUCKET               = google_storage_bucket.uploads.name
    LOGO_ANN_S3_ENDPOINT_URL      = local.s3_endpoint
    LOGO_ANN_MODEL_RUNTIME        = "triton"
    LOGO_ANN_TRITON_URL           = module.triton.url
    LOGO_ANN_EMBEDDER_TRITON_NAME = var.models.embedder
    LOGO_ANN_INDEX                = "elasticsearch"
    LOGO_ANN_ES_URL               = module.elasticsearch.url
    LOGO_ANN_ES_INDEX             = var.es_index
    LOGO_ANN_STORE                = "postgres"
    LOGO_ANN_DB_POOL_SIZE         = tostring(var.functions["embed_index"].concurrency)
    LOGO_ANN_MAX_ATTEMPTS         = tostring(var.max_delivery_attempts)
  }
  secrets = {
    LOGO_ANN_DATABASE_URL         = local.secret["database_url"]
    LOGO_ANN_ES_API_KEY           = local.secret["es_api_key"]
    LOGO_ANN_S3_ACCESS_KEY_ID     = local.secret["s3_access_key_id-embed_index"]
    LOGO_ANN_S3_SECRET_ACCESS_KEY = local.secret["s3_secret_access_key-embed_index"]
  }
  depends_on = [google_secret_manager_secret_version.this, google_secret_manager_secret_iam_member.reader]
}

module "search" {
  source                = "../function"
  project_id            = local.function_common.project_id
  region                = local.function_common.region
  source_bucket         = local.function_common.source_bucket
  build_service_account = local.function_common.build_service_account
  vpc_connector         = local.function_common.vpc_connector
  name                  = "${local.prefix}-search"
  entry_point           = "search"
  source_archive        = "${var.source_dir}/search.zip"
  service_account_email = google_service_account.function["search"].email
  sizing                = var.functions["search"]
  labels                = local.labels
  ingress               = "ALLOW_ALL"
  environment = {
    LOGO_ANN_IMAGE_STORE          = "s3"
    LOGO_ANN_BUCKET               = google_storage_bucket.uploads.name
    LOGO_ANN_S3_ENDPOINT_URL      = local.s3_endpoint
    LOGO_ANN_MODEL_RUNTIME        = "triton"
    LOGO_ANN_TRITON_URL           = module.triton.url
    LOGO_ANN_DETECTOR_TRITON_NAME = var.models.detector
    LOGO_ANN_EMBEDDER_TRITON_NAME = var.models.embedder
    LOGO_ANN_INDEX                = "elasticsearch"
    LOGO_ANN_ES_URL               = module.elasticsearch.url
    LOGO_ANN_ES_INDEX             = var.es_index
    LOGO_ANN_STORE                = "postgres"
    LOGO_ANN_DB_POOL_SIZE         = tostring(var.functions["search"].concurrency)
    LOGO_ANN_PIPELINE             = "platform"
  }
  secrets = {
    LOGO_ANN_DATABASE_URL         = local.secret["database_url"]
    LOGO_ANN_ES_API_KEY           = local.secret["es_api_key"]
    LOGO_ANN_API_TOKEN            = local.secret["api_token"]
    LOGO_ANN_S3_ACCESS_KEY_ID     = local.secret["s3_access_key_id-search"]
    LOGO_ANN_S3_SECRET_ACCESS_KEY = local.secret["s3_secret_access_key-search"]
  }
  depends_on = [google_secret_manager_secret_version.this, google_secret_manager_secret_iam_member.reader]
}
