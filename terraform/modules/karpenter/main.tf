# The AWS side of karpenter-rs on EKS: the controller's role (IRSA and Pod Identity trust)
# with the policy from iam/controller-policy.json (the one source the provider's tests check
# against the code), the node role with upstream's four managed policies and an access
# entry, the interruption queue with its EventBridge rules, and the discovery tags.

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  account_id     = data.aws_caller_identity.current.account_id
  partition      = data.aws_partition.current.partition
  region         = data.aws_region.current.name
  queue_name     = coalesce(var.queue_name, var.cluster_name)
  node_role_name = coalesce(var.node_iam_role_name, "KarpenterNodeRole-${var.cluster_name}")
  node_role_arn  = var.create_node_iam_role ? aws_iam_role.node[0].arn : var.node_iam_role_arn
  queue_arn      = var.enable_spot_termination ? aws_sqs_queue.interruption[0].arn : "arn:${local.partition}:sqs:${local.region}:${local.account_id}:${local.queue_name}"
  oidc_provider  = replace(var.irsa_oidc_provider_arn, "/^(.*provider/)/", "")
}

# --- controller role ---

data "aws_iam_policy_document" "controller_assume" {
  dynamic "statement" {
    for_each = var.enable_pod_identity ? [1] : []
    content {
      actions = ["sts:AssumeRole", "sts:TagSession"]
      principals {
        type        = "Service"
        identifiers = ["pods.eks.amazonaws.com"]
      }
    }
  }
  dynamic "statement" {
    for_each = var.enable_irsa ? [1] : []
    content {
      actions = ["sts:AssumeRoleWithWebIdentity"]
      principals {
        type        = "Federated"
        identifiers = [var.irsa_oidc_provider_arn]
      }
      condition {
        test     = "StringEquals"
        variable = "${local.oidc_provider}:sub"
        values   = [for sa in var.irsa_namespace_service_accounts : "system:serviceaccount:${sa}"]
      }
      condition {
        test     = "StringEquals"
        variable = "${local.oidc_provider}:aud"
        values   = ["sts.amazonaws.com"]
      }
    }
  }
}

resource "aws_iam_role" "controller" {
  count              = var.create_iam_role ? 1 : 0
  name               = var.iam_role_name
  assume_role_policy = data.aws_iam_policy_document.controller_assume.json
  tags               = var.tags
}

resource "aws_iam_policy" "controller" {
  count = var.create_iam_role ? 1 : 0
  name  = var.iam_policy_name
  policy = templatefile("${path.module}/../../../iam/controller-policy.json", {
    ClusterName          = var.cluster_name
    Region               = local.region
    Partition            = local.partition
    AccountId            = local.account_id
    InterruptionQueueArn = local.queue_arn
    NodeRoleArn          = local.node_role_arn
  })
  tags = var.tags
}

resource "aws_iam_role_policy_attachment" "controller" {
  count      = var.create_iam_role ? 1 : 0
  role       = aws_iam_role.controller[0].name
  policy_arn = aws_iam_policy.controller[0].arn
}

resource "aws_eks_pod_identity_association" "controller" {
  count           = var.create_iam_role && var.enable_pod_identity && var.create_pod_identity_association ? 1 : 0
  cluster_name    = var.cluster_name
  namespace       = var.namespace
  service_account = var.service_account
  role_arn        = aws_iam_role.controller[0].arn
  tags            = var.tags
}

# --- node role ---

data "aws_iam_policy_document" "node_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["ec2.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "node" {
  count              = var.create_node_iam_role ? 1 : 0
  name               = local.node_role_name
  assume_role_policy = data.aws_iam_policy_document.node_assume.json
  tags               = var.tags
}

locals {
  node_policies = merge({
    AmazonEKSWorkerNodePolicy          = "arn:${local.partition}:iam::aws:policy/AmazonEKSWorkerNodePolicy"
    AmazonEKS_CNI_Policy               = "arn:${local.partition}:iam::aws:policy/AmazonEKS_CNI_Policy"
    AmazonEC2ContainerRegistryPullOnly = "arn:${local.partition}:iam::aws:policy/AmazonEC2ContainerRegistryPullOnly"
    AmazonSSMManagedInstanceCore       = "arn:${local.partition}:iam::aws:policy/AmazonSSMManagedInstanceCore"
  }, var.node_iam_role_additional_policies)
}

resource "aws_iam_role_policy_attachment" "node" {
  for_each   = var.create_node_iam_role ? local.node_policies : {}
  role       = aws_iam_role.node[0].name
  policy_arn = each.value
}

resource "aws_eks_access_entry" "node" {
  count         = var.create_access_entry ? 1 : 0
  cluster_name  = var.cluster_name
  principal_arn = local.node_role_arn
  type          = var.access_entry_type
  tags          = var.tags
}

# --- interruption queue ---

resource "aws_sqs_queue" "interruption" {
  count                     = var.enable_spot_termination ? 1 : 0
  name                      = local.queue_name
  message_retention_seconds = 300
  sqs_managed_sse_enabled   = var.queue_managed_sse_enabled
  tags                      = var.tags
}

data "aws_iam_policy_document" "queue" {
  count = var.enable_spot_termination ? 1 : 0
  statement {
    sid       = "SqsWrite"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.interruption[0].arn]
    principals {
      type        = "Service"
      identifiers = ["events.amazonaws.com", "sqs.amazonaws.com"]
    }
  }
  statement {
    sid       = "DenyHTTP"
    effect    = "Deny"
    actions   = ["sqs:*"]
    resources = [aws_sqs_queue.interruption[0].arn]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_sqs_queue_policy" "interruption" {
  count     = var.enable_spot_termination ? 1 : 0
  queue_url = aws_sqs_queue.interruption[0].url
  policy    = data.aws_iam_policy_document.queue[0].json
}

locals {
  events = {
    health_event = {
      name        = "HealthEvent"
      description = "AWS Health scheduled changes"
      pattern     = { source = ["aws.health"], detail-type = ["AWS Health Event"] }
    }
    spot_interrupt = {
      name        = "SpotInterrupt"
      description = "EC2 spot instance interruption warnings"
      pattern     = { source = ["aws.ec2"], detail-type = ["EC2 Spot Instance Interruption Warning"] }
    }
    instance_rebalance = {
      name        = "InstanceRebalance"
      description = "EC2 instance rebalance recommendations"
      pattern     = { source = ["aws.ec2"], detail-type = ["EC2 Instance Rebalance Recommendation"] }
    }
    instance_state_change = {
      name        = "InstanceStateChange"
      description = "EC2 instance state-change notifications"
      pattern     = { source = ["aws.ec2"], detail-type = ["EC2 Instance State-change Notification"] }
    }
  }
}

resource "aws_cloudwatch_event_rule" "this" {
  for_each      = var.enable_spot_termination ? local.events : {}
  name          = "${var.rule_name_prefix}${each.value.name}-${var.cluster_name}"
  description   = each.value.description
  event_pattern = jsonencode(each.value.pattern)
  tags          = var.tags
}

resource "aws_cloudwatch_event_target" "this" {
  for_each  = var.enable_spot_termination ? local.events : {}
  rule      = aws_cloudwatch_event_rule.this[each.key].name
  target_id = "KarpenterInterruptionQueueTarget"
  arn       = aws_sqs_queue.interruption[0].arn
}

# --- discovery tags ---

resource "aws_ec2_tag" "subnet_discovery" {
  for_each    = toset(var.discovery_subnet_ids)
  resource_id = each.value
  key         = "karpenter.sh/discovery"
  value       = var.cluster_name
}

resource "aws_ec2_tag" "security_group_discovery" {
  for_each    = toset(var.discovery_security_group_ids)
  resource_id = each.value
  key         = "karpenter.sh/discovery"
  value       = var.cluster_name
}
