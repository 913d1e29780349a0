# The date as DATE_FORMAT writes it ("30 نوفمبر، 2026"), then the time and its zone: one date
# format per language wherever a date is shown.
DATETIME_FORMAT = "j F، Y، g:i A T"
