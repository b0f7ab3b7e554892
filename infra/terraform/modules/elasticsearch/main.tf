# The ANN index's cluster on Elastic Cloud, with an API key limited to the logo indices. Called by
# its own root (infra/terraform/elastic_cloud): the environments take the URL and key as inputs.

data "ec_stack" "this" {
  version_regex = var.ec_version_regex
  region        = var.ec_region
}

resource "ec_deployment" "this" {
  name                   = var.name
  region                 = var.ec_region
  version                = data.ec_stack.this.version
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
  name = "${var.name}-functions"
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
    endpoints = [ec_deployment.this.elasticsearch.https_endpoint]
    username  = ec_deployment.this.elasticsearch_username
    password  = ec_deployment.this.elasticsearch_password
  }
}
