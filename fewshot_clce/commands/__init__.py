"""Sub-commands of ``fewshot-clce``; each module adds one parser (see ``cli.COMMANDS``)."""
