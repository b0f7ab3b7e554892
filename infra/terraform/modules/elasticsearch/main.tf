# The ANN index's cluster: either an Elastic Cloud deployment created here, with an API key limited
# to the logo indices, or an existing cluster given by URL and API key.

locals {
  cloud = var.mode == "elastic_cloud"
}

data "ec_stack" "this" {
  count         = local.cloud ? 1 : 0
  version_regex = var.ec_version_regex
  region        = var.ec_region
}

resource "ec_deployment" "this" {
  count                  = local.cloud ? 1 : 0
  name                   = var.name
  region                 = var.ec_region
  version                = data.ec_stack.this[0].version
  deployment_template_id = "gcp-general-purpose"

  elasticsearch = {
    hot = {
      size        = var.ec_hot_size
      zone_count  = var.ec_zone_count
      autoscaling = {}
    }
  }
}

# The key is created with the deployment's own credentials through a per-resource connection, so
# no provider configuration depends on a resource that does not exist yet.
resource "elasticstack_elasticsearch_security_api_key" "functions" {
  count = local.cloud ? 1 : 0
  name  = "${var.name}-functions"
  role_descriptors = jsonencode({
    logo_ann = {
      cluster = ["monitor"]
      indices = [{
        names      = [var.index_pattern]
        privileges = ["create_index", "manage", "read", "write", "view_index_metadata"]
      }]
    }
  })

  elasticsearch_connection {
    endpoints = [ec_deployment.this[0].elasticsearch.https_endpoint]
    username  = ec_deployment.this[0].elasticsearch_username
    password  = ec_deployment.this[0].elasticsearch_password
  }
}

check "existing_cluster_given" {
  assert {
    condition     = local.cloud || (var.existing_url != "" && var.existing_api_key != "")
    error_message = "existing mode needs existing_url and existing_api_key."
  }
}
