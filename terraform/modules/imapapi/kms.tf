# One customer-managed key for everything the module encrypts: SQS queues, secrets,
# Redis at rest, CloudWatch log groups, ECS Exec sessions.

data "aws_iam_policy_document" "kms" {
  # Key administration and use are governed by IAM policies of this account (the task
  # roles and the execution role below get exactly the key use they need).
  #checkov:skip=CKV_AWS_109:A key policy's Resource is always "*" (the key itself); this is the account-root statement that delegates to IAM
  #checkov:skip=CKV_AWS_111:A key policy's Resource is always "*" (the key itself); this is the account-root statement that delegates to IAM
  #checkov:skip=CKV_AWS_356:A key policy's Resource is always "*" (the key itself)
  statement {
    sid       = "AccountAdministersAndDelegatesToIam"
    actions   = ["kms:*"]
    resources = ["*"]
    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${local.account_id}:root"]
    }
  }

  # CloudWatch Logs encrypts only this module's log groups with it.
  statement {
    sid = "CloudWatchLogsForThisPrefix"
    actions = [
      "kms:Encrypt*",
      "kms:Decrypt*",
      "kms:ReEncrypt*",
      "kms:GenerateDataKey*",
      "kms:Describe*",
    ]
    resources = ["*"]
    principals {
      type        = "Service"
      identifiers = ["logs.${local.region}.amazonaws.com"]
    }
    condition {
      test     = "ArnLike"
      variable = "kms:EncryptionContext:aws:logs:arn"
      values   = ["arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:${local.log_group_prefix}/*"]
    }
  }
}

resource "aws_kms_key" "this" {
  description             = "imapapi ${var.name_prefix}: SQS, Secrets Manager, ElastiCache, CloudWatch Logs"
  enable_key_rotation     = true
  deletion_window_in_days = var.kms_deletion_window_days
  policy                  = data.aws_iam_policy_document.kms.json
  tags                    = local.tags
}

resource "aws_kms_alias" "this" {
  name          = "alias/${var.name_prefix}-imapapi"
  target_key_id = aws_kms_key.this.key_id
}
