"""Bank statements: upload a camt.053/camt.054 file, follow its import, read what it matched."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response

from cpo_portal.kernel.api.framework import IntegratorViewSet
from cpo_portal.kernel.errors import InvalidInput
from invoicing.payments.models import BankStatement, StatementCredit, mask_iban
from invoicing.payments.statements import receive_statement
from invoicing.tasks import import_or_queue

MAX_UPLOAD_BYTES = 200 * 1024 * 1024


class StatementCreditSerializer(serializers.ModelSerializer):
    """A transfer of the statement and where matching placed it."""

    transaction = serializers.IntegerField(
        source="transaction_id", read_only=True, help_text="The transfer's id in /payments/."
    )
    amount = serializers.DecimalField(
        source="transaction.amount",
        max_digits=15,
        decimal_places=3,
        read_only=True,
        help_text="The amount credited, as a decimal string.",
    )
    currency = serializers.CharField(
        source="transaction.currency", read_only=True, help_text="ISO 4217 code."
    )
    reference = serializers.CharField(
        source="transaction.provider_reference",
        read_only=True,
        help_text="The bank's reference of the entry (unique: it is booked once).",
    )
    remittance_information = serializers.CharField(
        source="transaction.remittance_information",
        read_only=True,
        help_text="What the payer wrote as the purpose of the transfer.",
    )
    candidates = serializers.ListField(
        child=serializers.IntegerField(),
        read_only=True,
        help_text="Ids of the invoices matching suggests when the transfer waits for review.",
    )

    class Meta:
        model = StatementCredit
        fields = [
            "transaction",
            "amount",
            "currency",
            "reference",
            "remittance_information",
            "outcome",
            "reason",
            "candidates",
        ]
        extra_kwargs = {
            "outcome": {
                "help_text": "matched, partly, review, credit (kept as customer credit), "
                "return, collection (a direct-debit batch booked) or assigned (by staff)."
            },
            "reason": {"help_text": "Why matching placed it so, in words."},
        }


class BankStatementSerializer(serializers.ModelSerializer):
    """An uploaded statement: what it is, how far its import got and what it did."""

    account_iban = serializers.SerializerMethodField(help_text="Masked: country and last four.")

    class Meta:
        model = BankStatement
        fields = [
            "id",
            "file_name",
            "message_type",
            "statement_id",
            "account_iban",
            "created_on",
            "from_date",
            "to_date",
            "status",
            "error",
            "entries",
            "credits",
            "returns",
            "already_imported",
            "matched",
            "partly_matched",
            "to_review",
            "created_at",
            "finished_at",
        ]
        read_only_fields = fields
        extra_kwargs = {
            "id": {"help_text": "The statement's id in this API."},
            "file_name": {"help_text": "The name of the uploaded file."},
            "message_type": {"help_text": "camt.053 (statement) or camt.054 (notification)."},
            "statement_id": {"help_text": "The bank's id of the statement."},
            "created_on": {"help_text": "When the bank created the file."},
            "from_date": {"help_text": "First day the statement covers."},
            "to_date": {"help_text": "Last day the statement covers."},
            "status": {"help_text": "queued, running, done or failed (refused)."},
            "error": {"help_text": "Why the file was refused (naming the line), else empty."},
            "entries": {"help_text": "Entries read so far."},
            "credits": {"help_text": "Incoming transfers booked."},
            "returns": {"help_text": "Direct-debit returns booked."},
            "already_imported": {"help_text": "Entries booked by an earlier import, skipped."},
            "matched": {"help_text": "Transfers that paid invoices in full."},
            "partly_matched": {"help_text": "Transfers that paid part of an invoice."},
            "to_review": {"help_text": "Transfers waiting for staff in the review queue."},
            "created_at": {"help_text": "When it was uploaded."},
            "finished_at": {"help_text": "When its import ended."},
        }

    def get_account_iban(self, obj) -> str:
        return mask_iban(obj.account_iban)


class BankStatementDetailSerializer(BankStatementSerializer):
    transfers = StatementCreditSerializer(
        source="credits_read",
        many=True,
        read_only=True,
        help_text="Each incoming transfer with its outcome.",
    )

    class Meta(BankStatementSerializer.Meta):
        fields = [*BankStatementSerializer.Meta.fields, "transfers"]
        read_only_fields = fields


class StatementUploadSerializer(serializers.Serializer):
    file = serializers.FileField(help_text="The camt.053 or camt.054 XML file from the bank.")


@extend_schema(tags=["payments"])
class BankStatementViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, IntegratorViewSet):
    """Bank statements of the operator's account, as uploaded and imported."""

    serializer_class = BankStatementSerializer
    queryset = BankStatement.objects.none()
    parser_classes = [MultiPartParser]
    # A large file is queued after commit; the import's own transactions keep what was booked.
    atomic_writes = False

    def scoped_queryset(self, operator):
        return BankStatement.objects.filter(operator=operator)

    def get_serializer_class(self):
        if self.action == "retrieve":
            return BankStatementDetailSerializer
        return BankStatementSerializer

    @extend_schema(summary="List bank statements")
    def list(self, request, *args, **kwargs):
        """Newest first."""
        return super().list(request, *args, **kwargs)

    @extend_schema(summary="Read a bank statement")
    def retrieve(self, request, *args, **kwargs):
        """Counts, status and each transfer with its outcome (matched, partly, review)."""
        return super().retrieve(request, *args, **kwargs)

    @extend_schema(
        summary="Upload a bank statement",
        request={"multipart/form-data": StatementUploadSerializer},
        responses={201: BankStatementSerializer, 202: BankStatementSerializer},
    )
    def create(self, request, *args, **kwargs):
        """Imports a camt.053/camt.054 file (201) or, when large, queues it (202: poll the
        statement). A file that is not camt is refused (400) naming the line; entries imported
        before are not booked again."""
        upload = StatementUploadSerializer(data=request.data)
        upload.is_valid(raise_exception=True)
        file = upload.validated_data["file"]
        if file.size > MAX_UPLOAD_BYTES:
            raise InvalidInput("The file is larger than 200 MB.", field="file")
        statement = receive_statement(
            operator=self.operator, name=file.name, data=file, uploaded_by=None
        )
        queued = import_or_queue(statement)
        statement.refresh_from_db()
        return Response(
            BankStatementSerializer(statement).data,
            status=status.HTTP_202_ACCEPTED if queued else status.HTTP_201_CREATED,
        )
