# ---------------------------------------------------------------------------------------
# Naming and placement
# ---------------------------------------------------------------------------------------

variable "name_prefix" {
  description = "Prefix of every resource name, and of the SQS queue names the app derives from QUEUE_URL=sqs://<name_prefix> (<name_prefix>-events, <name_prefix>-submit, each with a -dlq). 2 to 24 characters: lower-case letters, digits and hyphens, starting with a letter (the ALB and target group names add '-api' within AWS's 32-character limit)."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,22}[a-z0-9]$", var.name_prefix))
    error_message = "name_prefix must be 2-24 characters of a-z, 0-9 and '-', start with a letter and not end with '-'."
  }
}

variable "tags" {
  description = "Tags added to every resource that takes tags (on top of the provider's default_tags)."
  type        = map(string)
  default     = {}
}

variable "vpc_id" {
  description = "VPC that holds the ALB, the ECS tasks and the Redis replication group."
  type        = string

  validation {
    condition     = can(regex("^vpc-[0-9a-f]{8,17}$", var.vpc_id))
    error_message = "vpc_id must look like vpc-0123456789abcdef0."
  }
}

variable "public_subnet_ids" {
  description = "Subnets of the load balancer: public ones for an internet-facing ALB, private ones with alb_internal = true. At least two, in different availability zones."
  type        = list(string)

  validation {
    condition     = length(var.public_subnet_ids) >= 2 && alltrue([for s in var.public_subnet_ids : can(regex("^subnet-[0-9a-f]{8,17}$", s))])
    error_message = "public_subnet_ids needs at least two subnet ids (subnet-...)."
  }
}

variable "private_subnet_ids" {
  description = "Private subnets of the ECS tasks and of Redis. The tasks need outbound internet access through a NAT gateway (IMAP and SMTP servers, webhooks, ECR, Secrets Manager, SQS, CloudWatch) or VPC endpoints for the AWS services. Two or more for a Multi-AZ Redis."
  type        = list(string)

  validation {
    condition     = length(var.private_subnet_ids) >= 1 && alltrue([for s in var.private_subnet_ids : can(regex("^subnet-[0-9a-f]{8,17}$", s))])
    error_message = "private_subnet_ids needs at least one subnet id (subnet-...)."
  }
}

# ---------------------------------------------------------------------------------------
# Load balancer
# ---------------------------------------------------------------------------------------

variable "certificate_arn" {
  description = "ACM certificate of the HTTPS listener (the api's public name)."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:acm:[a-z0-9-]+:[0-9]{12}:certificate/[0-9a-f-]+$", var.certificate_arn))
    error_message = "certificate_arn must be an ACM certificate ARN (arn:aws:acm:<region>:<account>:certificate/<id>)."
  }
}

variable "alb_internal" {
  description = "Make the ALB internal (reachable only inside the VPC and connected networks)."
  type        = bool
  default     = false
}

variable "alb_ingress_cidrs" {
  description = "IPv4 CIDRs allowed to reach the HTTPS listener (443). Narrow it to the clients of the API where you can."
  type        = list(string)
  default     = ["0.0.0.0/0"]

  validation {
    condition     = length(var.alb_ingress_cidrs) > 0 && alltrue([for c in var.alb_ingress_cidrs : can(cidrnetmask(c))])
    error_message = "alb_ingress_cidrs must hold at least one valid IPv4 CIDR block (a.b.c.d/n)."
  }
}

variable "alb_ssl_policy" {
  description = "TLS policy of the HTTPS listener."
  type        = string
  default     = "ELBSecurityPolicy-TLS13-1-2-2021-06"

  validation {
    condition     = can(regex("^ELBSecurityPolicy-", var.alb_ssl_policy))
    error_message = "alb_ssl_policy must be the name of an ELB security policy (ELBSecurityPolicy-...)."
  }
}

variable "alb_idle_timeout" {
  description = "Seconds the ALB keeps an idle connection: long enough for a large attachment download from a slow mail server."
  type        = number
  default     = 300

  validation {
    condition     = var.alb_idle_timeout >= 1 && var.alb_idle_timeout <= 4000
    error_message = "alb_idle_timeout must be between 1 and 4000 seconds."
  }
}

variable "alb_deletion_protection" {
  description = "Protect the ALB from deletion (turn off before a terraform destroy)."
  type        = bool
  default     = true
}

variable "alb_access_logs_bucket" {
  description = "S3 bucket for ALB access logs (its policy must let the regional ELB account write). null: no access logs."
  type        = string
  default     = null
}

variable "waf_web_acl_arn" {
  description = "WAFv2 web ACL (REGIONAL) to associate with the ALB. null: none."
  type        = string
  default     = null

  validation {
    condition     = var.waf_web_acl_arn == null || can(regex("^arn:aws[a-z-]*:wafv2:", var.waf_web_acl_arn))
    error_message = "waf_web_acl_arn must be a WAFv2 web ACL ARN or null."
  }
}

# ---------------------------------------------------------------------------------------
# Containers
# ---------------------------------------------------------------------------------------

variable "image" {
  description = "The imapapi container image (infra/deploy/Dockerfile), e.g. 123456789012.dkr.ecr.eu-west-1.amazonaws.com/imapapi:1.2.3. Every role runs it with its role as the command."
  type        = string

  validation {
    condition     = length(var.image) > 0 && !can(regex("\\s", var.image))
    error_message = "image must be a non-empty image reference without spaces."
  }
}

variable "ecr_repository_arns" {
  description = "ECR repositories the task execution role may pull from. Empty: no ECR permissions (image from a public registry)."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for a in var.ecr_repository_arns : can(regex("^arn:aws[a-z-]*:ecr:[a-z0-9-]+:[0-9]{12}:repository/.+$", a))])
    error_message = "ecr_repository_arns must hold ECR repository ARNs."
  }
}

variable "task_egress_cidrs" {
  description = "IPv4 CIDRs the tasks may connect to. imapapi connects to the IMAP and SMTP servers of its accounts and to webhook URLs, which can be anywhere, on any port."
  type        = list(string)
  default     = ["0.0.0.0/0"]

  validation {
    condition     = length(var.task_egress_cidrs) > 0 && alltrue([for c in var.task_egress_cidrs : can(cidrnetmask(c))])
    error_message = "task_egress_cidrs must hold at least one valid IPv4 CIDR block."
  }
}

variable "log_level" {
  description = "LOG_LEVEL of every role."
  type        = string
  default     = "info"

  validation {
    condition     = contains(["trace", "debug", "info", "warn", "error"], var.log_level)
    error_message = "log_level must be one of trace, debug, info, warn, error."
  }
}

variable "extra_environment" {
  description = "More environment variables for every role (see the configuration table of the README), e.g. { QUEUE_MAX_ATTEMPTS = \"8\", API_MAX_SIZE = \"10M\" }. Secrets do not belong here."
  type        = map(string)
  default     = {}

  validation {
    condition = alltrue([for k in keys(var.extra_environment) :
      can(regex("^[A-Z][A-Z0-9_]*$", k)) &&
      !contains(["REDIS_URL", "QUEUE_URL", "IMAPAPI_SECRET", "IMAPAPI_AUTH", "API_HOST", "API_PORT", "AWS_REGION", "QUEUE_VISIBILITY_TIMEOUT", "INGEST_EMF_NAMESPACE", "INGEST_EMF_DIMENSIONS"], k)
    ])
    error_message = "extra_environment keys must be upper-case variable names and may not override REDIS_URL, QUEUE_URL, IMAPAPI_SECRET, IMAPAPI_AUTH, API_HOST, API_PORT, AWS_REGION, QUEUE_VISIBILITY_TIMEOUT, INGEST_EMF_NAMESPACE or INGEST_EMF_DIMENSIONS (the module sets those)."
  }
}

variable "service_secret_arn" {
  description = "Existing Secrets Manager secret holding IMAPAPI_SECRET (the key of the stored account credentials), e.g. when moving an installation. null: the module creates one with a random value."
  type        = string
  default     = null

  validation {
    condition     = var.service_secret_arn == null || can(regex("^arn:aws[a-z-]*:secretsmanager:", var.service_secret_arn))
    error_message = "service_secret_arn must be a Secrets Manager secret ARN or null."
  }
}

variable "service_secret_kms_key_arn" {
  description = "KMS key of the secret given in service_secret_arn, when it is not the AWS-managed key. null: none."
  type        = string
  default     = null
}

variable "api_auth_enabled" {
  description = "Protect the REST API with basic auth (IMAPAPI_AUTH): the module creates a secret '<api_auth_user>:<random password>'."
  type        = bool
  default     = true
}

variable "api_auth_user" {
  description = "User name of the API's basic auth."
  type        = string
  default     = "imapapi"

  validation {
    condition     = can(regex("^[A-Za-z0-9._-]{1,64}$", var.api_auth_user))
    error_message = "api_auth_user must be 1-64 characters of letters, digits, '.', '_' or '-' (no ':')."
  }
}

# ---------------------------------------------------------------------------------------
# Roles: size and scaling
# ---------------------------------------------------------------------------------------

variable "api" {
  description = "api role: Fargate size, task count bounds, and the autoscaling targets (ALB requests per task per minute, average CPU %)."
  type = object({
    cpu                 = optional(number, 512)
    memory              = optional(number, 1024)
    min_count           = optional(number, 2)
    max_count           = optional(number, 6)
    requests_per_target = optional(number, 1000)
    cpu_target          = optional(number, 60)
  })
  default = {}

  validation {
    condition     = contains([256, 512, 1024, 2048, 4096, 8192, 16384], var.api.cpu) && var.api.memory >= 512 && var.api.memory <= 122880
    error_message = "api: cpu must be a Fargate size (256, 512, 1024, 2048, 4096, 8192, 16384) and memory (MiB) one that fits it."
  }
  validation {
    condition     = var.api.min_count >= 1 && var.api.max_count >= var.api.min_count
    error_message = "api: min_count must be >= 1 (request-count scaling cannot start from zero tasks) and max_count >= min_count."
  }
  validation {
    condition     = var.api.requests_per_target > 0 && var.api.cpu_target > 0 && var.api.cpu_target <= 100
    error_message = "api: requests_per_target must be > 0 and cpu_target within (0, 100]."
  }
}

variable "ingest" {
  description = "ingest role: Fargate size, desired count, bounds, and the 'accounts per task' target of its autoscaling on the metric <metric_namespace>/OwnedAccounts (dimensions ClusterName, ServiceName) that each ingest task writes to its log in CloudWatch Embedded Metric Format (see README). Ingest tasks hold the IMAP sessions; scale-in is off unless scale_in is true."
  type = object({
    cpu               = optional(number, 1024)
    memory            = optional(number, 2048)
    desired_count     = optional(number, 2)
    min_count         = optional(number, 1)
    max_count         = optional(number, 8)
    accounts_per_task = optional(number, 500)
    metric_namespace  = optional(string, "imapapi")
    scale_in          = optional(bool, false)
  })
  default = {}

  validation {
    condition     = contains([256, 512, 1024, 2048, 4096, 8192, 16384], var.ingest.cpu) && var.ingest.memory >= 512 && var.ingest.memory <= 122880
    error_message = "ingest: cpu must be a Fargate size (256, 512, 1024, 2048, 4096, 8192, 16384) and memory (MiB) one that fits it."
  }
  validation {
    condition = (var.ingest.min_count >= 0 && var.ingest.desired_count >= var.ingest.min_count &&
    var.ingest.max_count >= var.ingest.desired_count && var.ingest.max_count >= 1)
    error_message = "ingest: counts must satisfy 0 <= min_count <= desired_count <= max_count, max_count >= 1."
  }
  validation {
    condition     = var.ingest.accounts_per_task >= 1
    error_message = "ingest: accounts_per_task must be >= 1."
  }
}

variable "dispatch" {
  description = "dispatch role (webhooks): Fargate size, bounds and the target backlog of the events queue per task. min_count = 0 scales to zero when no events wait (a wake-up alarm starts the first task)."
  type = object({
    cpu              = optional(number, 256)
    memory           = optional(number, 512)
    min_count        = optional(number, 1)
    max_count        = optional(number, 4)
    backlog_per_task = optional(number, 100)
  })
  default = {}

  validation {
    condition     = contains([256, 512, 1024, 2048, 4096, 8192, 16384], var.dispatch.cpu) && var.dispatch.memory >= 512 && var.dispatch.memory <= 122880
    error_message = "dispatch: cpu must be a Fargate size (256, 512, 1024, 2048, 4096, 8192, 16384) and memory (MiB) one that fits it."
  }
  validation {
    condition     = var.dispatch.min_count >= 0 && var.dispatch.max_count >= var.dispatch.min_count && var.dispatch.max_count >= 1
    error_message = "dispatch: min_count must be >= 0 and max_count >= max(min_count, 1)."
  }
  validation {
    condition     = var.dispatch.backlog_per_task >= 1
    error_message = "dispatch: backlog_per_task must be >= 1."
  }
}

variable "submit" {
  description = "submit role (SMTP sending): Fargate size, bounds and the target backlog of the submit queue per task. min_count = 0 scales to zero when nothing waits to be sent."
  type = object({
    cpu              = optional(number, 256)
    memory           = optional(number, 512)
    min_count        = optional(number, 1)
    max_count        = optional(number, 4)
    backlog_per_task = optional(number, 20)
  })
  default = {}

  validation {
    condition     = contains([256, 512, 1024, 2048, 4096, 8192, 16384], var.submit.cpu) && var.submit.memory >= 512 && var.submit.memory <= 122880
    error_message = "submit: cpu must be a Fargate size (256, 512, 1024, 2048, 4096, 8192, 16384) and memory (MiB) one that fits it."
  }
  validation {
    condition     = var.submit.min_count >= 0 && var.submit.max_count >= var.submit.min_count && var.submit.max_count >= 1
    error_message = "submit: min_count must be >= 0 and max_count >= max(min_count, 1)."
  }
  validation {
    condition     = var.submit.backlog_per_task >= 1
    error_message = "submit: backlog_per_task must be >= 1."
  }
}

# ---------------------------------------------------------------------------------------
# Queues
# ---------------------------------------------------------------------------------------

variable "sqs_visibility_timeout_seconds" {
  description = "Visibility timeout of the work queues, and the app's queue.visibilityTimeout: how long a received message stays hidden (the app renews it while it works), so also how soon a crashed task's messages come back."
  type        = number
  default     = 120

  validation {
    condition     = var.sqs_visibility_timeout_seconds >= 3 && var.sqs_visibility_timeout_seconds <= 43200
    error_message = "sqs_visibility_timeout_seconds must be between 3 and 43200 (the app's range)."
  }
}

variable "sqs_max_receive_count" {
  description = "Receives of one message before SQS moves it to the queue's dead-letter queue (the redrive policy's maxReceiveCount). Keep it above the app's own attempts (queue.maxAttempts, submit.maxAttempts) if the app retries through redelivery."
  type        = number
  default     = 12

  validation {
    condition     = var.sqs_max_receive_count >= 1 && var.sqs_max_receive_count <= 1000
    error_message = "sqs_max_receive_count must be between 1 and 1000."
  }
}

variable "sqs_message_retention_seconds" {
  description = "Retention of the work queues (dead-letter queues keep messages 14 days)."
  type        = number
  default     = 345600

  validation {
    condition     = var.sqs_message_retention_seconds >= 60 && var.sqs_message_retention_seconds <= 1209600
    error_message = "sqs_message_retention_seconds must be between 60 and 1209600."
  }
}

variable "queue_age_alarm_seconds" {
  description = "Alarm when the oldest message of a work queue is older than this (seconds), per queue."
  type        = map(number)
  default = {
    events = 300
    submit = 1800
  }

  validation {
    condition = (length(setsubtract(keys(var.queue_age_alarm_seconds), ["events", "submit"])) == 0 &&
    alltrue([for v in values(var.queue_age_alarm_seconds) : v >= 60]))
    error_message = "queue_age_alarm_seconds keys must be events and/or submit, values >= 60."
  }
}

variable "alarm_actions" {
  description = "ARNs (SNS topics) notified when an alarm fires or recovers."
  type        = list(string)
  default     = []
}

# ---------------------------------------------------------------------------------------
# Redis
# ---------------------------------------------------------------------------------------

variable "redis_node_type" {
  description = "ElastiCache node type of the store."
  type        = string
  default     = "cache.t4g.small"

  validation {
    condition     = can(regex("^cache\\.", var.redis_node_type))
    error_message = "redis_node_type must be an ElastiCache node type (cache.*)."
  }
}

variable "redis_engine_version" {
  description = "Redis engine version."
  type        = string
  default     = "7.1"
}

variable "redis_parameter_group_family" {
  description = "Parameter group family matching redis_engine_version."
  type        = string
  default     = "redis7"
}

variable "redis_num_cache_clusters" {
  description = "Nodes of the replication group: 1 (no failover) or 2-6 (a primary and replicas, Multi-AZ with automatic failover)."
  type        = number
  default     = 2

  validation {
    condition     = var.redis_num_cache_clusters >= 1 && var.redis_num_cache_clusters <= 6
    error_message = "redis_num_cache_clusters must be between 1 and 6."
  }
}

variable "redis_snapshot_retention_days" {
  description = "Days of automatic Redis snapshots (0: none)."
  type        = number
  default     = 7

  validation {
    condition     = var.redis_snapshot_retention_days >= 0 && var.redis_snapshot_retention_days <= 35
    error_message = "redis_snapshot_retention_days must be between 0 and 35."
  }
}

# ---------------------------------------------------------------------------------------
# Logs, keys, secrets
# ---------------------------------------------------------------------------------------

variable "log_retention_days" {
  description = "Retention of the CloudWatch log groups (one per role)."
  type        = number
  default     = 365

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be a value CloudWatch Logs accepts (1, 3, 5, 7, 14, 30, 60, 90, ..., 365, ..., 3653)."
  }
}

variable "kms_deletion_window_days" {
  description = "Waiting period before the module's KMS key is deleted after a destroy."
  type        = number
  default     = 30

  validation {
    condition     = var.kms_deletion_window_days >= 7 && var.kms_deletion_window_days <= 30
    error_message = "kms_deletion_window_days must be between 7 and 30."
  }
}

variable "secret_recovery_window_days" {
  description = "Recovery window of the module's secrets after a destroy (0: delete at once)."
  type        = number
  default     = 30

  validation {
    condition     = var.secret_recovery_window_days == 0 || (var.secret_recovery_window_days >= 7 && var.secret_recovery_window_days <= 30)
    error_message = "secret_recovery_window_days must be 0 or between 7 and 30."
  }
}
