module "imapapi" {
  source = "../../modules/imapapi"

  name_prefix = "imapapi-${var.environment}"

  vpc_id             = var.vpc_id
  public_subnet_ids  = var.public_subnet_ids
  private_subnet_ids = var.private_subnet_ids
  certificate_arn    = var.certificate_arn

  image               = var.image
  ecr_repository_arns = var.ecr_repository_arn == null ? [] : [var.ecr_repository_arn]

  api    = { min_count = 2, max_count = 6 }
  ingest = { desired_count = 2, max_count = 6, accounts_per_task = 500 }
  # Webhooks should go out at once: keep one dispatch task. Sending may wait for a task
  # to start (about a minute), so submit scales to zero when idle.
  dispatch = { min_count = 1, max_count = 4 }
  submit   = { min_count = 0, max_count = 4 }

  alarm_actions = var.alarm_topic_arn == null ? [] : [var.alarm_topic_arn]
}
