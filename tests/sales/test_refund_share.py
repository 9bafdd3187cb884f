from decimal import Decimal

from apps.sales.models import OrderLine
from apps.sales.services import refund_share


def test_refunds_in_parts_add_up_to_the_line_total_after_discounts():
    # 3 units, 12.00 less a 2.00 discount: 10.00 does not split evenly.
    line = OrderLine(quantity=3, unit_price=Decimal("4.00"), discount=Decimal("2.00"))
    line.total = Decimal("10.00")
    shares = [refund_share(line, returned, 1) for returned in range(3)]
    assert shares == [Decimal("3.33"), Decimal("3.34"), Decimal("3.33")]
    assert sum(shares) == line.total
    assert refund_share(line, 0, 3) == Decimal("10.00")
    assert refund_share(line, 1, 2) == Decimal("6.67")
