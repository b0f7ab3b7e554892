output "alert_policies" {
  description = "Names of the alert policies."
  value = [
    google_monitoring_alert_policy.dead_letters.name,
    google_monitoring_alert_policy.error_rate.name,
    google_monitoring_alert_policy.search_latency.name,
  ]
}
