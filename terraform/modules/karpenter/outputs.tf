output "iam_role_name" {
  description = "Name of the controller's IAM role"
  value       = try(aws_iam_role.controller[0].name, null)
}

output "iam_role_arn" {
  description = "ARN of the controller's IAM role"
  value       = try(aws_iam_role.controller[0].arn, null)
}

output "node_iam_role_name" {
  description = "Name of the node IAM role (EC2NodeClass spec.role)"
  value       = try(aws_iam_role.node[0].name, null)
}

output "node_iam_role_arn" {
  description = "ARN of the node IAM role"
  value       = local.node_role_arn
}

output "queue_name" {
  description = "Name of the interruption queue (settings.interruptionQueue)"
  value       = try(aws_sqs_queue.interruption[0].name, null)
}

output "queue_arn" {
  description = "ARN of the interruption queue"
  value       = try(aws_sqs_queue.interruption[0].arn, null)
}

output "queue_url" {
  description = "URL of the interruption queue"
  value       = try(aws_sqs_queue.interruption[0].url, null)
}

output "event_rules" {
  description = "The EventBridge rules feeding the queue"
  value       = { for k, r in aws_cloudwatch_event_rule.this : k => r.name }
}

output "namespace" {
  description = "Namespace of the controller"
  value       = var.namespace
}

output "service_account" {
  description = "Service account of the controller"
  value       = var.service_account
}
