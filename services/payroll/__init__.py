"""Payroll service: payslips from net sales and attendance (PAY-*)."""
