# One function as the google provider's schema sees it (the provider is real, its API mocked):
# the caller's environment and secrets pass through unchanged, the trigger and sizing are as
# given, and the variable checks refuse what Cloud Run functions would.

mock_provider "google" {}

variables {
  project_id            = "logo-ann-test-1"
  region                = "europe-west1"
  name                  = "logo-ann-dev-detect"
  entry_point           = "detect"
  source_archive        = "../../tests/fixtures/detect.zip"
  source_bucket         = "logo-ann-dev-sources"
  build_service_account = "projects/logo-ann-test-1/serviceAccounts/build@logo-ann-test-1.iam.gserviceaccount.com"
  service_account_email = "fn-detect@logo-ann-test-1.iam.gserviceaccount.com"
  vpc_connector         = "projects/logo-ann-test-1/locations/europe-west1/connectors/logo-ann-dev"
  sizing = {
    memory        = "2Gi"
    cpu           = "1"
    timeout_s     = 120
    min_instances = 0
    max_instances = 5
    concurrency   = 4
  }
  environment = {
    LOGO_ANN_QUEUE = "pubsub"
    LOGO_ANN_INDEX = "elasticsearch"
  }
  secrets = {
    LOGO_ANN_DATABASE_URL = "logo-ann-dev-database-url"
  }
  event_trigger = {
    event_type            = "google.cloud.storage.object.v1.finalized"
    retry_policy          = "RETRY_POLICY_RETRY"
    service_account_email = "events@logo-ann-test-1.iam.gserviceaccount.com"
    bucket                = "logo-ann-dev-uploads"
  }
}

run "a_storage_function_gets_exactly_what_the_caller_gives" {
  command = plan

  assert {
    condition     = google_cloudfunctions2_function.this.build_config[0].runtime == "python311"
    error_message = "the functions run on python311"
  }
  assert {
    condition     = google_cloudfunctions2_function.this.build_config[0].entry_point == "detect"
    error_message = "the entry point is not var.entry_point"
  }
  assert {
    condition     = google_cloudfunctions2_function.this.service_config[0].environment_variables == var.environment
    error_message = "the plain environment is not exactly var.environment"
  }
  assert {
    condition     = tomap({ for s in google_cloudfunctions2_function.this.service_config[0].secret_environment_variables : s.key => s.secret }) == var.secrets
    error_message = "the secret variables are not exactly var.secrets"
  }
  assert {
    condition     = alltrue([for s in google_cloudfunctions2_function.this.service_config[0].secret_environment_variables : s.version == "latest" && s.project_id == var.project_id])
    error_message = "secrets must follow their latest version in the function's project"
  }
  assert {
    condition     = google_cloudfunctions2_function.this.service_config[0].available_memory == "2Gi" && google_cloudfunctions2_function.this.service_config[0].available_cpu == "1"
    error_message = "memory and vCPU are not the sizing's"
  }
  assert {
    condition     = google_cloudfunctions2_function.this.service_config[0].max_instance_count == 5 && google_cloudfunctions2_function.this.service_config[0].max_instance_request_concurrency == 4
    error_message = "max instances and concurrency are not the sizing's"
  }
  assert {
    condition     = google_cloudfunctions2_function.this.service_config[0].ingress_settings == "ALLOW_INTERNAL_ONLY"
    error_message = "a function is internal unless the caller opens it"
  }
  assert {
    condition     = google_cloudfunctions2_function.this.service_config[0].service_account_email == var.service_account_email
    error_message = "the function does not run as its own account"
  }
  assert {
    condition     = google_cloudfunctions2_function.this.event_trigger[0].event_type == "google.cloud.storage.object.v1.finalized" && google_cloudfunctions2_function.this.event_trigger[0].retry_policy == "RETRY_POLICY_RETRY"
    error_message = "the Eventarc trigger's event type or retry policy is not the caller's"
  }
  assert {
    condition     = google_cloudfunctions2_function.this.event_trigger[0].service_account_email == var.event_trigger.service_account_email && google_cloudfunctions2_function.this.event_trigger[0].trigger_region == var.region
    error_message = "the trigger must deliver as the caller's event identity, in the function's region"
  }
  assert {
    condition     = { for f in google_cloudfunctions2_function.this.event_trigger[0].event_filters : f.attribute => f.value } == { bucket = "logo-ann-dev-uploads" }
    error_message = "a storage trigger filters on its bucket only"
  }
  assert {
    condition     = startswith(google_storage_bucket_object.source.name, "logo-ann-dev-detect/") && endswith(google_storage_bucket_object.source.name, ".zip")
    error_message = "the archive is uploaded under the function's name"
  }
}

run "an_http_function_has_no_trigger" {
  command = plan
  variables {
    event_trigger = null
    ingress       = "ALLOW_ALL"
  }
  assert {
    condition     = length(google_cloudfunctions2_function.this.event_trigger) == 0
    error_message = "event_trigger = null must give an HTTP function"
  }
  assert {
    condition     = google_cloudfunctions2_function.this.service_config[0].ingress_settings == "ALLOW_ALL"
    error_message = "ingress is not passed through"
  }
}

run "refuses_concurrency_without_a_full_cpu" {
  command = plan
  variables {
    sizing = { memory = "1Gi", cpu = "0.5", timeout_s = 60, min_instances = 0, max_instances = 2, concurrency = 4 }
  }
  expect_failures = [var.sizing]
}

run "refuses_an_unknown_retry_policy" {
  command = plan
  variables {
    event_trigger = {
      event_type            = "google.cloud.storage.object.v1.finalized"
      retry_policy          = "RETRY_FOREVER"
      service_account_email = "events@logo-ann-test-1.iam.gserviceaccount.com"
      bucket                = "logo-ann-dev-uploads"
    }
  }
  expect_failures = [var.event_trigger]
}
