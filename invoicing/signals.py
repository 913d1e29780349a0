"""What the invoicing domain announces; receivers (invoicing/receivers.py) queue the work."""

from django.dispatch import Signal

# Documents were issued (in the caller's transaction). Argument: `document_ids`.
documents_issued = Signal()
# An issued document's recipient details were corrected. Argument: `document_id`.
recipient_corrected = Signal()
# A document's PDF is to be rendered now (sent after commit). Arguments: `document_id`,
# `reason`, `rendered_by_id`.
pdf_render_requested = Signal()
# Many documents need their PDFs (sent after commit). Argument: `document_ids`.
pdf_batch_requested = Signal()
# Staff queued a direct-debit collection run (in the caller's transaction). Argument: `run_id`.
collection_queued = Signal()
# A billing run's chunks were planned and wait for the workers. Argument: `chunk_ids`.
billing_chunks_planned = Signal()
# A document's PDF revision was stored (sent after it was saved). Arguments: `document_id`,
# `document_file_id`.
document_pdf_stored = Signal()
# A payment was recorded (in the caller's transaction). Argument: `payment_id`.
payment_recorded = Signal()
# A ledger transaction reached a new status (in the caller's transaction, after its money was
# applied). Arguments: `transaction_id`, `status`.
payment_status_changed = Signal()
# A card-terminal capture was matched to a session (in the caller's transaction). Arguments:
# `session_id`, `transaction_id`, `card_payment`.
terminal_payment_matched = Signal()
# A terminal capture's match was undone or moved. Arguments: `session_id`, `transaction_id`.
terminal_match_undone = Signal()
# Terminal transactions were stored (in the caller's transaction). Argument: `terminal_ids`.
terminal_transactions_received = Signal()
