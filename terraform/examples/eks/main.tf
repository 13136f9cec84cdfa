# karpenter-rs on an existing EKS cluster: the module's AWS side, then the chart.
#   terraform init && terraform apply -var cluster_name=my-cluster \
#     -var 'subnet_ids=["subnet-...",...]' -var 'security_group_ids=["sg-..."]'
#   kubectl apply -f nodepool.yaml   (after replacing CLUSTER_NAME in it)

terraform {
  required_version = ">= 1.5"
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.0"
    }
    helm = {
      source  = "hashicorp/helm"
      version = ">= 2.12, < 3.0"
    }
  }
}

variable "region" {
  type    = string
  default = "us-east-1"
}

variable "cluster_name" {
  type = string
}

variable "subnet_ids" {
  description = "The cluster's private subnets, for nodes"
  type        = list(string)
}

variable "security_group_ids" {
  description = "The node security group(s)"
  type        = list(string)
}

variable "image_repository" {
  description = "Where the controller image was pushed (see the Dockerfile)"
  type        = string
}

variable "image_tag" {
  type    = string
  default = "0.1.0"
}

provider "aws" {
  region = var.region
}

data "aws_eks_cluster" "this" {
  name = var.cluster_name
}

data "aws_eks_cluster_auth" "this" {
  name = var.cluster_name
}

provider "helm" {
  kubernetes {
    host                   = data.aws_eks_cluster.this.endpoint
    cluster_ca_certificate = base64decode(data.aws_eks_cluster.this.certificate_authority[0].data)
    token                  = data.aws_eks_cluster_auth.this.token
  }
}

module "karpenter" {
  source = "../../modules/karpenter"

  cluster_name                    = var.cluster_name
  enable_pod_identity             = true
  create_pod_identity_association = true
  discovery_subnet_ids            = var.subnet_ids
  discovery_security_group_ids    = var.security_group_ids
  tags                            = { Project = "karpenter-rs" }
}

resource "helm_release" "karpenter" {
  name             = "karpenter"
  namespace        = module.karpenter.namespace
  create_namespace = true
  chart            = "${path.module}/../../../charts/karpenter"
  wait             = false

  values = [yamlencode({
    serviceAccount = { name = module.karpenter.service_account }
    controller = {
      image = { repository = var.image_repository, tag = var.image_tag }
    }
    settings = {
      clusterName       = var.cluster_name
      clusterEndpoint   = data.aws_eks_cluster.this.endpoint
      interruptionQueue = module.karpenter.queue_name
    }
  })]
}

output "node_iam_role_name" {
  description = "spec.role of the EC2NodeClass"
  value       = module.karpenter.node_iam_role_name
}
