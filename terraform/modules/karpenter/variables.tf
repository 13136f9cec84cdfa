# Inputs named as the community module (terraform-aws-modules/eks//modules/karpenter) names them.

variable "cluster_name" {
  description = "Name of the EKS cluster"
  type        = string
}

variable "tags" {
  description = "Tags added to every resource"
  type        = map(string)
  default     = {}
}

variable "create_iam_role" {
  description = "Create the controller's IAM role"
  type        = bool
  default     = true
}

variable "iam_role_name" {
  description = "Name of the controller's IAM role"
  type        = string
  default     = "KarpenterController"
}

variable "iam_policy_name" {
  description = "Name of the controller's IAM policy"
  type        = string
  default     = "KarpenterController"
}

variable "enable_irsa" {
  description = "Trust the cluster's OIDC provider (IRSA)"
  type        = bool
  default     = false
}

variable "irsa_oidc_provider_arn" {
  description = "ARN of the cluster's OIDC provider, for IRSA"
  type        = string
  default     = ""
}

variable "irsa_namespace_service_accounts" {
  description = "namespace:serviceaccount pairs the IRSA trust admits"
  type        = list(string)
  default     = ["karpenter:karpenter"]
}

variable "enable_pod_identity" {
  description = "Trust EKS Pod Identity (pods.eks.amazonaws.com)"
  type        = bool
  default     = true
}

variable "create_pod_identity_association" {
  description = "Associate the role with the controller's service account"
  type        = bool
  default     = false
}

variable "namespace" {
  description = "Namespace of the controller"
  type        = string
  default     = "karpenter"
}

variable "service_account" {
  description = "Service account of the controller"
  type        = string
  default     = "karpenter"
}

variable "create_node_iam_role" {
  description = "Create the IAM role of the nodes Karpenter launches"
  type        = bool
  default     = true
}

variable "node_iam_role_name" {
  description = "Name of the node IAM role"
  type        = string
  default     = null
}

variable "node_iam_role_arn" {
  description = "An existing node IAM role, when create_node_iam_role is false"
  type        = string
  default     = null
}

variable "node_iam_role_additional_policies" {
  description = "More policies for the node role, by any key"
  type        = map(string)
  default     = {}
}

variable "create_access_entry" {
  description = "Give the node role an EKS access entry (type EC2_LINUX)"
  type        = bool
  default     = true
}

variable "access_entry_type" {
  description = "Type of the access entry"
  type        = string
  default     = "EC2_LINUX"
}

variable "enable_spot_termination" {
  description = "Create the interruption queue and its EventBridge rules"
  type        = bool
  default     = true
}

variable "queue_name" {
  description = "Name of the interruption queue (default: the cluster's name)"
  type        = string
  default     = null
}

variable "queue_managed_sse_enabled" {
  description = "SQS-managed server-side encryption of the queue"
  type        = bool
  default     = true
}

variable "rule_name_prefix" {
  description = "Prefix of the EventBridge rule names"
  type        = string
  default     = "Karpenter"
}

variable "discovery_subnet_ids" {
  description = "Subnets to tag karpenter.sh/discovery = cluster_name"
  type        = list(string)
  default     = []
}

variable "discovery_security_group_ids" {
  description = "Security groups to tag karpenter.sh/discovery = cluster_name"
  type        = list(string)
  default     = []
}
