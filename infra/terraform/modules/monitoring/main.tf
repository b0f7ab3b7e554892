# Three alerts: any dead-lettered crops message, a function's 5xx share, and search's p95 latency.

resource "google_monitoring_notification_channel" "email" {
  for_each     = toset(var.notification_emails)
  project      = var.project_id
  display_name = "${var.prefix} ${each.value}"
  type         = "email"
  labels = {
    email_address = each.value
  }
}

locals {
  channels = [for channel in google_monitoring_notification_channel.email : channel.id]
}

resource "google_monitoring_alert_policy" "dead_letters" {
  project               = var.project_id
  display_name          = "${var.prefix}: messages dead-lettered"
  combiner              = "OR"
  notification_channels = local.channels

  conditions {
    display_name = "dead-lettered messages > 0"
    condition_threshold {
      filter          = "resource.type = \"pubsub_subscription\" AND metric.type = \"pubsub.googleapis.com/subscription/dead_letter_message_count\" AND resource.label.subscription_id = one_of(${join(", ", [for name in var.dead_letter_subscriptions : "\"${name}\""])})"
      comparison      = "COMPARISON_GT"
      threshold_value = 0
      duration        = "0s"
      aggregations {
        alignment_period     = "300s"
        per_series_aligner   = "ALIGN_DELTA"
        cross_series_reducer = "REDUCE_SUM"
        group_by_fields      = ["resource.label.subscription_id"]
      }
    }
  }

  documentation {
    content   = "Messages exhausted their delivery attempts and sit in the dead-letter subscription. Inspect them, fix the cause, then replay them or run the reconcile command (see infra/terraform/README.md)."
    mime_type = "text/markdown"
  }
}

resource "google_monitoring_alert_policy" "error_rate" {
  project               = var.project_id
  display_name          = "${var.prefix}: function error rate"
  combiner              = "OR"
  notification_channels = local.channels

  conditions {
    display_name = "5xx share above ${var.error_rate_threshold}"
    condition_threshold {
      filter                  = "resource.type = \"cloud_run_revision\" AND metric.type = \"run.googleapis.com/request_count\" AND metric.label.response_code_class = \"5xx\" AND resource.label.service_name = one_of(${join(", ", [for name in var.services : "\"${name}\""])})"
      denominator_filter      = "resource.type = \"cloud_run_revision\" AND metric.type = \"run.googleapis.com/request_count\" AND resource.label.service_name = one_of(${join(", ", [for name in var.services : "\"${name}\""])})"
      comparison              = "COMPARISON_GT"
      threshold_value         = var.error_rate_threshold
      duration                = "300s"
      evaluation_missing_data = "EVALUATION_MISSING_DATA_INACTIVE"
      aggregations {
        alignment_period     = "300s"
        per_series_aligner   = "ALIGN_RATE"
        cross_series_reducer = "REDUCE_SUM"
        group_by_fields      = ["resource.label.service_name"]
      }
      denominator_aggregations {
        alignment_period     = "300s"
        per_series_aligner   = "ALIGN_RATE"
        cross_series_reducer = "REDUCE_SUM"
        group_by_fields      = ["resource.label.service_name"]
      }
    }
  }

  documentation {
    content   = "A function answers 5xx too often. Transient failures (Triton, Elasticsearch, PostgreSQL, storage) are retried; look at the function's logs for the failing stage."
    mime_type = "text/markdown"
  }
}

resource "google_monitoring_alert_policy" "search_latency" {
  project               = var.project_id
  display_name          = "${var.prefix}: search latency"
  combiner              = "OR"
  notification_channels = local.channels

  conditions {
    display_name = "search p95 above ${var.search_p95_ms} ms"
    condition_threshold {
      filter          = "resource.type = \"cloud_run_revision\" AND metric.type = \"run.googleapis.com/request_latencies\" AND resource.label.service_name = \"${var.search_service}\""
      comparison      = "COMPARISON_GT"
      threshold_value = var.search_p95_ms
      duration        = "300s"
      aggregations {
        alignment_period     = "300s"
        per_series_aligner   = "ALIGN_PERCENTILE_95"
        cross_series_reducer = "REDUCE_MAX"
        group_by_fields      = ["resource.label.service_name"]
      }
    }
  }

  documentation {
    content   = "Search is slow. Check Elasticsearch (kNN num_candidates, heap), Cloud SQL and Triton (search by image)."
    mime_type = "text/markdown"
  }
}
