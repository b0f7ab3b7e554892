# Every credential the functions read lives in Secret Manager and reaches them as a secret
# environment variable: the database URL, the Elasticsearch API key, the search API token and one
# HMAC key (S3 interoperability) per function account. Each account may read only its own.

locals {
  # Secret names are static (for_each keys must be known at plan time); values come from resources.
  hmac_secret_names = flatten([
    for name in keys(local.runtime_accounts) : ["s3_access_key_id-${name}", "s3_secret_access_key-${name}"]
  ])
  secret_names = concat(["database_url", "es_api_key", "api_token"], local.hmac_secret_names)
  secret_values = merge(
    {
      database_url = module.database.database_url
      es_api_key   = var.es_api_key
      api_token    = random_password.api_token.result
    },
    { for name, key in google_storage_hmac_key.function : "s3_access_key_id-${name}" => key.access_id },
    { for name, key in google_storage_hmac_key.function : "s3_secret_access_key-${name}" => key.secret },
  )
  # Which function reads which secret: the shared ones by all but api_token (search only), and
  # each HMAC secret by its own function.
  secret_readers = merge(
    { for pair in setproduct(["database_url", "es_api_key"], keys(local.runtime_accounts)) : "${pair[0]}/${pair[1]}" => { secret = pair[0], function = pair[1] } },
    { "api_token/search" = { secret = "api_token", function = "search" } },
    { for name in local.hmac_secret_names : "${name}/${split("-", name)[1]}" => { secret = name, function = split("-", name)[1] } },
  )
}

resource "random_password" "api_token" {
  length  = 40
  special = false
}

resource "google_storage_hmac_key" "function" {
  for_each              = google_service_account.function
  project               = var.project_id
  service_account_email = each.value.email
}

resource "google_secret_manager_secret" "this" {
  for_each  = toset(local.secret_names)
  project   = var.project_id
  secret_id = "${local.prefix}-${replace(each.key, "_", "-")}"
  labels    = local.labels

  replication {
    auto {}
  }
}

resource "google_secret_manager_secret_version" "this" {
  for_each    = google_secret_manager_secret.this
  secret      = each.value.id
  secret_data = local.secret_values[each.key]
}

resource "google_secret_manager_secret_iam_member" "reader" {
  for_each  = local.secret_readers
  project   = var.project_id
  secret_id = google_secret_manager_secret.this[each.value.secret].secret_id
  role      = "roles/secretmanager.secretAccessor"
  member    = google_service_account.function[each.value.function].member
}
