# One Cloud Run function (2nd gen). Its plain environment is exactly var.environment and its
# secrets exactly var.secrets: nothing is added here, so the caller's maps are the whole contract
# (tests/infra checks them against common/deploy.py).

resource "google_storage_bucket_object" "source" {
  # The content hash in the name makes a new archive redeploy the function.
  name   = "${var.name}/${filemd5(var.source_archive)}.zip"
  bucket = var.source_bucket
  source = var.source_archive
}

resource "google_cloudfunctions2_function" "this" {
  project     = var.project_id
  name        = var.name
  location    = var.region
  description = "Logo-ANN ${var.entry_point}"
  labels      = var.labels

  build_config {
    runtime         = "python311"
    entry_point     = var.entry_point
    service_account = var.build_service_account
    source {
      storage_source {
        bucket = var.source_bucket
        object = google_storage_bucket_object.source.name
      }
    }
  }

  service_config {
    available_memory                 = var.sizing.memory
    available_cpu                    = var.sizing.cpu
    timeout_seconds                  = var.sizing.timeout_s
    min_instance_count               = var.sizing.min_instances
    max_instance_count               = var.sizing.max_instances
    max_instance_request_concurrency = var.sizing.concurrency
    ingress_settings                 = var.ingress
    all_traffic_on_latest_revision   = true
    service_account_email            = var.service_account_email
    vpc_connector                    = var.vpc_connector
    vpc_connector_egress_settings    = "PRIVATE_RANGES_ONLY"
    environment_variables            = var.environment

    dynamic "secret_environment_variables" {
      for_each = var.secrets
      content {
        key        = secret_environment_variables.key
        project_id = var.project_id
        secret     = secret_environment_variables.value
        version    = "latest"
      }
    }
  }

  dynamic "event_trigger" {
    for_each = var.event_trigger == null ? [] : [var.event_trigger]
    content {
      trigger_region        = var.region
      event_type            = event_trigger.value.event_type
      retry_policy          = event_trigger.value.retry_policy
      service_account_email = event_trigger.value.service_account_email
      pubsub_topic          = event_trigger.value.pubsub_topic

      dynamic "event_filters" {
        for_each = event_trigger.value.bucket == null ? [] : [event_trigger.value.bucket]
        content {
          attribute = "bucket"
          value     = event_filters.value
        }
      }
    }
  }
}
