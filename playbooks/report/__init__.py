"""Learning from incidents: business impact, detection, lineage, action items, recurrence
and completeness of one post-mortem; MTTx over many incidents and drills (``mlpb report``)."""
